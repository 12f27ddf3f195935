//! The catalog: every citizen-facing sentence, Danish and English, in Project Fluent files
//! (`core/locales/<lang>.ftl`). A brand may override known keys (checked by
//! `samtale-brand check`). Adding a language is adding its `.ftl` file and its line in
//! [`LOCALES`].

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::collections::BTreeMap;

/// The catalogs compiled into the core: (language tag, Fluent source). The first is the
/// fallback.
pub const LOCALES: &[(&str, &str)] = &[
    ("da", include_str!("../../locales/da.ftl")),
    ("en", include_str!("../../locales/en.ftl")),
];

/// The values a sentence may use.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// `{ $municipality }`.
    pub municipality: String,
    /// `{ $phone }`.
    pub phone: String,
    /// `{ $hours }`.
    pub hours: String,
    /// `{ $seconds }`.
    pub seconds: u64,
    /// The name the caseworker chose to show for a standing room, or the catalog's
    /// `contact-person` ("Din kontaktperson").
    pub name: String,
}

/// One language's sentences, with a brand's overrides.
pub struct Catalog {
    lang: &'static str,
    bundle: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("lang", &self.lang).finish()
    }
}

/// A catalog or an override that is not valid Fluent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    /// The language has no catalog.
    #[error("no catalog for language {0:?} (known: da, en)")]
    UnknownLanguage(String),
    /// An override key the catalog does not have.
    #[error("unknown text key {0:?}")]
    UnknownKey(String),
    /// Fluent could not parse a text.
    #[error("text {key:?} is not valid: {detail}")]
    Invalid {
        /// The key.
        key: String,
        /// Why.
        detail: String,
    },
}

fn source(lang: &str) -> Option<(&'static str, &'static str)> {
    LOCALES.iter().find(|(l, _)| *l == lang).copied()
}

/// The message ids of a Fluent source, in order.
pub fn keys(src: &str) -> Vec<String> {
    let Ok(resource) = FluentResource::try_new(src.to_owned()) else {
        return Vec::new();
    };
    resource
        .entries()
        .filter_map(|e| match e {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
            _ => None,
        })
        .collect()
}

/// The raw pattern text of every message of a Fluent source (for the plain-language checks).
pub fn texts(src: &str) -> BTreeMap<String, String> {
    src.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

impl Catalog {
    /// The catalog for `lang` with `overrides` (key -> text) on top.
    pub fn new(lang: &str, overrides: &BTreeMap<String, String>) -> Result<Self, CatalogError> {
        let (lang, src) =
            source(lang).ok_or_else(|| CatalogError::UnknownLanguage(lang.to_owned()))?;
        let id: unic_langid::LanguageIdentifier = lang
            .parse()
            .map_err(|_| CatalogError::UnknownLanguage(lang.to_owned()))?;
        // The thread-safe memoizer: a catalog lives in the bindings, used from any thread.
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        // No Unicode isolation marks around variables: phone numbers are read aloud and
        // dialled, and the shells draw plain strings.
        bundle.set_use_isolating(false);
        let resource =
            FluentResource::try_new(src.to_owned()).map_err(|(_, e)| CatalogError::Invalid {
                key: format!("{lang}.ftl"),
                detail: format!("{e:?}"),
            })?;
        bundle.add_resource_overriding(resource);
        let known = keys(src);
        for (key, text) in overrides {
            if !known.contains(key) {
                return Err(CatalogError::UnknownKey(key.clone()));
            }
            let line = format!("{key} = {}\n", text.replace('\n', " "));
            let resource =
                FluentResource::try_new(line).map_err(|(_, e)| CatalogError::Invalid {
                    key: key.clone(),
                    detail: format!("{e:?}"),
                })?;
            bundle.add_resource_overriding(resource);
        }
        Ok(Self { lang, bundle })
    }

    /// The language tag.
    pub fn lang(&self) -> &'static str {
        self.lang
    }

    /// The sentence for `key` with `vars` filled in; the key itself if missing (a test
    /// guarantees none is).
    pub fn get(&self, key: &str, vars: &Vars) -> String {
        let Some(pattern) = self.bundle.get_message(key).and_then(|m| m.value()) else {
            return key.to_owned();
        };
        let mut args = FluentArgs::new();
        args.set(
            "municipality",
            FluentValue::from(vars.municipality.as_str()),
        );
        args.set("phone", FluentValue::from(vars.phone.as_str()));
        args.set("hours", FluentValue::from(vars.hours.as_str()));
        args.set("seconds", FluentValue::from(vars.seconds as f64));
        args.set("name", FluentValue::from(vars.name.as_str()));
        let mut errors = Vec::new();
        self.bundle
            .format_pattern(pattern, Some(&args), &mut errors)
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::plain;
    use super::*;

    #[test]
    fn every_language_has_exactly_the_same_keys() {
        let (_, reference) = LOCALES[0];
        let reference = keys(reference);
        assert!(reference.len() > 30, "{reference:?}");
        for (lang, src) in LOCALES {
            assert_eq!(
                keys(src),
                reference,
                "{lang}.ftl must have the same keys in order"
            );
        }
    }

    #[test]
    fn every_sentence_is_plain_language() {
        for (lang, src) in LOCALES {
            for (key, text) in texts(src) {
                let p = plain::problems(&text, *lang == "da");
                assert!(p.is_empty(), "{lang} {key}: {p:?}");
            }
        }
    }

    #[test]
    fn variables_are_filled_and_overrides_replace_known_keys_only() {
        let vars = Vars {
            municipality: "Eksempel Kommune".into(),
            phone: "70 12 34 56".into(),
            ..Vars::default()
        };
        let da = Catalog::new("da", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(da.get("home-action", &vars), "Ring til Eksempel Kommune");
        assert_eq!(da.get("help-call", &vars), "Ring 70 12 34 56");
        let mut o = BTreeMap::new();
        o.insert("home-action".to_owned(), "Ring til din bostøtte".to_owned());
        let branded = Catalog::new("da", &o).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(branded.get("home-action", &vars), "Ring til din bostøtte");
        o.insert("no-such-key".to_owned(), "x".to_owned());
        assert_eq!(
            Catalog::new("da", &o).err(),
            Some(CatalogError::UnknownKey("no-such-key".into()))
        );
        assert!(matches!(
            Catalog::new("sv", &BTreeMap::new()),
            Err(CatalogError::UnknownLanguage(_))
        ));
    }
}
