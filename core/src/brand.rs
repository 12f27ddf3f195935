//! The brand file: one `brand.toml` per municipality (format in docs/branding.md). Parsed and
//! checked here, so that `samtale-brand check`, `samtale-brand build` and the apps (which
//! pass the file's text to the core) agree on every rule. Checks that need the files around
//! it (the logo, replacement pictograms) are `samtale-brand`'s.

use crate::screen::catalog::{self, Catalog, LOCALES, Vars};
use crate::screen::{BrandView, plain};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A text in every language the apps speak.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    /// Danish.
    pub da: String,
    /// English.
    pub en: String,
}

impl Localized {
    /// The text in `lang` (Danish for any other).
    pub fn get(&self, lang: &str) -> &str {
        if lang == "en" { &self.en } else { &self.da }
    }
}

/// The brand's colours, `#RRGGBB`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Colors {
    /// Screen background.
    pub background: String,
    /// Text on the background.
    pub text: String,
    /// The primary button.
    pub primary: String,
    /// Text on the primary button.
    pub on_primary: String,
    /// Focus rings, the code's digits, the keypad's pressed state.
    pub accent: String,
}

/// The help line, on every screen.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HelpLine {
    /// A number that can be dialled: 8 Danish digits or E.164 (`+45 70 12 34 56`).
    pub phone: String,
    /// Opening hours in words.
    pub hours: Localized,
    /// More help on the web (https).
    pub url: Option<String>,
}

/// Where municipalities legitimately differ.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// Show the citizen's own picture during the call.
    #[serde(default = "yes")]
    pub self_view: bool,
    /// Show pictograms (some citizens find them distracting).
    #[serde(default = "yes")]
    pub pictograms: bool,
}

fn yes() -> bool {
    true
}

impl Default for Features {
    fn default() -> Self {
        Self {
            self_view: true,
            pictograms: true,
        }
    }
}

/// One municipality's `brand.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    /// Folder name and storage id: lower-case letters, digits and `-`.
    pub id: String,
    /// Reverse-DNS application id (`dk.eksempel.samtale`).
    pub app_id: String,
    /// The app's name under its icon.
    pub app_name: Localized,
    /// The municipality's name, as the citizen says it.
    pub municipality: Localized,
    /// The Samtale server (https).
    pub server_url: String,
    /// `da` or `en`: the language when the phone's is neither.
    pub default_language: String,
    /// Colours.
    pub colors: Colors,
    /// The logo's file name in the brand folder (SVG; PNG accepted).
    pub logo: String,
    /// The help line.
    pub help: HelpLine,
    /// Feature switches.
    #[serde(default)]
    pub features: Features,
    /// Replacement pictograms: pictogram name (`call`, `wait`, ...) -> SVG file in the folder.
    #[serde(default)]
    pub pictograms: BTreeMap<String, String>,
    /// Text overrides: language -> catalog key -> text.
    #[serde(default)]
    pub overrides: BTreeMap<String, BTreeMap<String, String>>,
}

/// One thing wrong with a brand file: the field, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field (`colors.text`, `help.phone`, `overrides.da.home-action`, ...).
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Longest texts that still fit their place at 200 % font scale on a small phone (360 dp
/// wide): headlines, button labels, sentences.
pub const MAX_HEADLINE_CHARS: usize = 32;
/// See [`MAX_HEADLINE_CHARS`].
pub const MAX_LABEL_CHARS: usize = 32;
/// See [`MAX_HEADLINE_CHARS`].
pub const MAX_BODY_CHARS: usize = 110;
/// Launchers cut app names beyond about this many characters.
pub const MAX_APP_NAME_CHARS: usize = 20;

/// Parses `brand.toml`. The error names the line and says what is wrong.
pub fn parse(text: &str) -> Result<Brand, Problem> {
    toml::from_str(text).map_err(|e| Problem {
        field: "brand.toml".into(),
        message: e.to_string().trim().to_owned(),
    })
}

/// `#RRGGBB` -> (r, g, b).
pub fn rgb(hex: &str) -> Option<(u8, u8, u8)> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let p = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((p(0)?, p(2)?, p(4)?))
}

fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let c = |v: u8| {
        let s = f64::from(v) / 255.0;
        if s <= 0.04045 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * c(r) + 0.7152 * c(g) + 0.0722 * c(b)
}

/// WCAG 2.2 contrast ratio of two colours (1 to 21).
pub fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The colour pairs that must contrast: (foreground field, background field, minimum).
/// Text needs 4.5:1 (WCAG 1.4.3); the button's and the accent's shapes against the
/// background need 3:1 (1.4.11).
pub const CONTRAST_PAIRS: &[(&str, &str, f64)] = &[
    ("text", "background", 4.5),
    ("on_primary", "primary", 4.5),
    ("primary", "background", 3.0),
    ("accent", "background", 3.0),
];

fn color<'a>(c: &'a Colors, name: &str) -> &'a str {
    match name {
        "background" => &c.background,
        "text" => &c.text,
        "primary" => &c.primary,
        "on_primary" => &c.on_primary,
        _ => &c.accent,
    }
}

/// The contrast ratio of every pair in [`CONTRAST_PAIRS`] (`None` where a colour is not
/// `#RRGGBB`).
pub fn contrasts(c: &Colors) -> Vec<(&'static str, &'static str, f64, Option<f64>)> {
    CONTRAST_PAIRS
        .iter()
        .map(|(fg, bg, min)| {
            let ratio = match (rgb(color(c, fg)), rgb(color(c, bg))) {
                (Some(a), Some(b)) => Some(contrast(a, b)),
                _ => None,
            };
            (*fg, *bg, *min, ratio)
        })
        .collect()
}

/// Whether `phone` can be dialled from a Danish phone: 8 digits, or `+` and 8 to 15 digits.
/// Spaces are allowed for reading.
pub fn phone_ok(phone: &str) -> bool {
    let compact: String = phone.chars().filter(|c| *c != ' ').collect();
    match compact.strip_prefix('+') {
        Some(rest) => (8..=15).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_digit()),
        None => compact.len() == 8 && compact.chars().all(|c| c.is_ascii_digit()),
    }
}

fn url_problem(url: &str) -> Option<String> {
    match url::Url::parse(url) {
        Err(e) => Some(format!("\"{url}\" is not a URL ({e})")),
        Ok(u) if u.scheme() == "https" => None,
        Ok(u)
            if u.scheme() == "http"
                && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) =>
        {
            None
        }
        Ok(_) => Some(format!(
            "\"{url}\" must start with https:// (http only for localhost, when testing)"
        )),
    }
}

impl Brand {
    /// The screens' view of this brand in `lang`.
    pub fn view(&self, lang: &str) -> BrandView {
        BrandView {
            municipality: self.municipality.get(lang).to_owned(),
            help_phone: self.help.phone.clone(),
            help_hours: self.help.hours.get(lang).to_owned(),
            help_url: self.help.url.clone(),
            self_view: self.features.self_view,
            pictograms: self.features.pictograms,
        }
    }

    /// The catalog for `lang` with this brand's overrides.
    pub fn catalog(&self, lang: &str) -> Result<Catalog, catalog::CatalogError> {
        let empty = BTreeMap::new();
        Catalog::new(lang, self.overrides.get(lang).unwrap_or(&empty))
    }

    /// Everything wrong with this brand that can be told from the file alone; empty when it
    /// is fine.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |field: &str, message: String| {
            out.push(Problem {
                field: field.to_owned(),
                message,
            })
        };
        let id_ok = !self.id.is_empty()
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            bad(
                "id",
                format!("\"{}\": use lower-case letters, digits and -", self.id),
            );
        }
        let segments: Vec<&str> = self.app_id.split('.').collect();
        let segment_ok = |s: &&str| {
            s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if segments.len() < 2 || !segments.iter().all(segment_ok) {
            bad(
                "app_id",
                format!(
                    "\"{}\" is not a reverse-DNS id: write it like dk.kommune.samtale",
                    self.app_id
                ),
            );
        }
        for (lang, name) in [("da", &self.app_name.da), ("en", &self.app_name.en)] {
            let n = name.chars().count();
            if n == 0 || n > MAX_APP_NAME_CHARS {
                bad(
                    &format!("app_name.{lang}"),
                    format!(
                        "\"{name}\" has {n} characters; use 1 to {MAX_APP_NAME_CHARS}, or the launcher cuts it"
                    ),
                );
            }
        }
        for (lang, name) in [("da", &self.municipality.da), ("en", &self.municipality.en)] {
            if name.trim().is_empty() {
                bad(
                    &format!("municipality.{lang}"),
                    "write the municipality's name".into(),
                );
            }
        }
        if let Some(why) = url_problem(&self.server_url) {
            bad("server_url", why);
        }
        if let Some(url) = &self.help.url
            && let Some(why) = url_problem(url)
        {
            bad("help.url", why);
        }
        if !LOCALES.iter().any(|(l, _)| *l == self.default_language) {
            bad(
                "default_language",
                format!("\"{}\": use da or en", self.default_language),
            );
        }
        for name in ["background", "text", "primary", "on_primary", "accent"] {
            let value = color(&self.colors, name);
            if rgb(value).is_none() {
                bad(
                    &format!("colors.{name}"),
                    format!("\"{value}\" is not a colour: write it as #RRGGBB"),
                );
            }
        }
        for (fg, bg, min, ratio) in contrasts(&self.colors) {
            if let Some(r) = ratio
                && r < min
            {
                bad(
                    &format!("colors.{fg}"),
                    format!(
                        "contrast with colors.{bg} is {r:.2}:1; it must be at least {min}:1 (WCAG 2.2 AA)"
                    ),
                );
            }
        }
        if !phone_ok(&self.help.phone) {
            bad(
                "help.phone",
                format!(
                    "\"{}\" cannot be dialled: write 8 digits (70 12 34 56) or +45 and the number",
                    self.help.phone
                ),
            );
        }
        for (lang, hours) in [("da", &self.help.hours.da), ("en", &self.help.hours.en)] {
            if hours.trim().is_empty() {
                bad(
                    &format!("help.hours.{lang}"),
                    "say when the help line answers".into(),
                );
            }
        }
        if self.logo.trim().is_empty() {
            bad(
                "logo",
                "name the logo file (SVG or PNG) in the brand folder".into(),
            );
        }
        for name in self.pictograms.keys() {
            if !crate::screen::Pictogram::ALL
                .iter()
                .any(|p| p.name() == name)
            {
                bad(
                    &format!("pictograms.{name}"),
                    format!(
                        "unknown pictogram; known: {}",
                        crate::screen::Pictogram::ALL.map(|p| p.name()).join(", ")
                    ),
                );
            }
        }
        self.text_problems(&mut out);
        out
    }

    /// Overrides: known keys, plain language, and every text of every screen (with this
    /// brand's names filled in) short enough for 200 % font scale.
    fn text_problems(&self, out: &mut Vec<Problem>) {
        for (lang, texts) in &self.overrides {
            let Some((_, src)) = LOCALES.iter().find(|(l, _)| l == lang) else {
                out.push(Problem {
                    field: format!("overrides.{lang}"),
                    message: "unknown language: use da or en".into(),
                });
                continue;
            };
            let known = catalog::keys(src);
            for (key, text) in texts {
                let field = format!("overrides.{lang}.{key}");
                if !known.contains(key) {
                    out.push(Problem {
                        field,
                        message: "unknown text key (see the keys in docs/branding.md)".into(),
                    });
                    continue;
                }
                for p in plain::problems(text, lang == "da") {
                    out.push(Problem {
                        field: field.clone(),
                        message: p,
                    });
                }
            }
        }
        for (lang, src) in LOCALES {
            let Ok(catalog) = self.catalog(lang) else {
                continue; // reported above
            };
            let view = self.view(lang);
            let vars = Vars {
                municipality: view.municipality,
                phone: view.help_phone,
                hours: view.help_hours,
                seconds: 60,
                name: catalog.get("contact-person", &Vars::default()),
            };
            for key in catalog::keys(src) {
                let text = catalog.get(&key, &vars);
                let n = text.chars().count();
                let max = if key.ends_with("-headline") {
                    MAX_HEADLINE_CHARS
                } else if key.ends_with("-body")
                    || key.ends_with("-usage")
                    || key.starts_with("notice-")
                    || key == "code-wrong"
                {
                    MAX_BODY_CHARS
                } else {
                    MAX_LABEL_CHARS
                };
                if n > max {
                    let overridden = self
                        .overrides
                        .get(*lang)
                        .is_some_and(|o| o.contains_key(&key));
                    out.push(Problem {
                        field: if overridden {
                            format!("overrides.{lang}.{key}")
                        } else if key.contains("help") {
                            format!("help.hours.{lang}")
                        } else {
                            format!("municipality.{lang}")
                        },
                        message: format!(
                            "\"{text}\" has {n} characters; at 200 % font size only {max} fit: shorten it"
                        ),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r##"
id = "eksempel"
app_id = "dk.eksempel.samtale"
app_name = { da = "Samtale", en = "Samtale" }
municipality = { da = "Eksempel Kommune", en = "Eksempel Municipality" }
server_url = "https://samtale.eksempel.dk"
default_language = "da"
logo = "logo.svg"

[colors]
background = "#FFFFFF"
text = "#1A1A1A"
primary = "#0B5FA5"
on_primary = "#FFFFFF"
accent = "#B35C00"

[help]
phone = "+45 70 12 34 56"
hours = { da = "Hverdage kl. 8-15", en = "Weekdays 8 to 15" }

[overrides.da]
home-action = "Ring til din bostøtte"
"##;

    fn with(replace: &str, by: &str) -> Vec<String> {
        let text = GOOD.replace(replace, by);
        assert_ne!(text, GOOD, "{replace} not in the example");
        match parse(&text) {
            Ok(b) => b.problems().iter().map(ToString::to_string).collect(),
            Err(p) => vec![p.to_string()],
        }
    }

    #[test]
    fn the_good_brand_has_no_problems() {
        let b = parse(GOOD).unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(b.problems(), vec![]);
        assert!(contrast((255, 255, 255), (0, 0, 0)) > 20.9);
        assert!((contrast((255, 255, 255), (255, 255, 255)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn each_broken_brand_fails_with_its_own_message() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "text = \"#1A1A1A\"",
                "text = \"#BBBBBB\"",
                "colors.text: contrast with colors.background is 1.92:1",
            ),
            (
                "on_primary = \"#FFFFFF\"",
                "on_primary = \"#3A7FC0\"",
                "colors.on_primary: contrast with colors.primary",
            ),
            (
                "accent = \"#B35C00\"",
                "accent = \"blue\"",
                "colors.accent: \"blue\" is not a colour",
            ),
            (
                "phone = \"+45 70 12 34 56\"",
                "phone = \"70 12 34\"",
                "help.phone: \"70 12 34\" cannot be dialled",
            ),
            (
                "https://samtale.eksempel.dk",
                "http://samtale.eksempel.dk",
                "server_url: \"http://samtale.eksempel.dk\" must start with https://",
            ),
            (
                "home-action = \"Ring til din bostøtte\"",
                "home-actoin = \"Ring\"",
                "overrides.da.home-actoin: unknown text key",
            ),
            (
                "home-action = \"Ring til din bostøtte\"",
                "home-body = \"Hvis forbindelsen afbrydes under samtalen forsøger applikationen automatisk at genetablere den.\"",
                "overrides.da.home-body: LIX 75 is above 25",
            ),
            (
                "home-action = \"Ring til din bostøtte\"",
                "home-action = \"Ring til din bostøttemedarbejder i kommunen\"",
                "at 200 % font size only 32 fit",
            ),
            (
                "app_id = \"dk.eksempel.samtale\"",
                "app_id = \"Samtale App\"",
                "app_id: \"Samtale App\" is not a reverse-DNS id",
            ),
            (
                "default_language = \"da\"",
                "default_language = \"sv\"",
                "default_language: \"sv\": use da or en",
            ),
            ("[help]", "[hjelp]", "unknown field `hjelp`"),
            (
                "id = \"eksempel\"",
                "id = \"eksempel",
                "brand.toml: TOML parse error at line 2",
            ),
        ];
        for (from, to, expect) in cases {
            let got = with(from, to);
            assert!(
                got.iter().any(|m| m.contains(expect)),
                "{to}: expected a problem containing {expect:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn danish_and_e164_numbers_dial() {
        assert!(phone_ok("70 12 34 56"));
        assert!(phone_ok("+45 70123456"));
        assert!(phone_ok("+4670123456"));
        assert!(!phone_ok("7012 345"));
        assert!(!phone_ok("+45 70-12-34-56"));
    }
}
