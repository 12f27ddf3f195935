//! `samtale-brand`: checks a municipality's brand folder (`brand.toml`, the logo, replacement
//! pictograms) and builds what the Android and iOS apps need from it at build time. The rules
//! on the file itself live in `samtale_core::brand`, so the apps and this tool agree.
//!
//! Output is written to a temporary folder beside the destination and moved into place only
//! when complete: a failed build writes nothing.

use resvg::tiny_skia::{self, Pixmap, PixmapPaint, Transform};
use resvg::usvg;
use samtale_core::brand::{self, Brand, Problem};
use samtale_core::screen::Pictogram;
use std::path::{Path, PathBuf};

/// A checked brand folder, ready to build.
#[derive(Debug)]
pub struct Checked {
    /// The folder.
    pub dir: PathBuf,
    /// `brand.toml` as written.
    pub source: String,
    /// Parsed.
    pub brand: Brand,
    /// The logo.
    pub logo: Image,
    /// One image per pictogram (the brand's replacement or the shipped one).
    pub pictograms: Vec<(Pictogram, Image)>,
    /// (foreground, background, ratio) of every contrast pair.
    pub contrasts: Vec<(&'static str, &'static str, f64)>,
}

/// A picture that can be rasterised at any size.
#[derive(Debug)]
pub enum Image {
    /// An SVG (as its source text).
    Svg(String),
    /// A PNG, decoded.
    Png(Pixmap),
}

fn problem(field: &str, message: impl Into<String>) -> Problem {
    Problem {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The pictograms shipped with Samtale (Material Symbols, Apache-2.0; see
/// `brands/pictograms/README.md`).
pub fn shipped_pictogram(p: Pictogram) -> &'static str {
    match p {
        Pictogram::Code => include_str!("../../brands/pictograms/code.svg"),
        Pictogram::Call => include_str!("../../brands/pictograms/call.svg"),
        Pictogram::Wait => include_str!("../../brands/pictograms/wait.svg"),
        Pictogram::Talk => include_str!("../../brands/pictograms/talk.svg"),
        Pictogram::Reconnect => include_str!("../../brands/pictograms/reconnect.svg"),
        Pictogram::Done => include_str!("../../brands/pictograms/done.svg"),
        Pictogram::Offline => include_str!("../../brands/pictograms/offline.svg"),
        Pictogram::Problem => include_str!("../../brands/pictograms/problem.svg"),
    }
}

fn load_image(dir: &Path, field: &str, file: &str) -> Result<Image, Problem> {
    let path = dir.join(file);
    let bytes = std::fs::read(&path)
        .map_err(|e| problem(field, format!("cannot read {}: {e}", path.display())))?;
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".svg") {
        let text = String::from_utf8(bytes)
            .map_err(|_| problem(field, format!("{file} is not UTF-8 SVG text")))?;
        // Renderable at all?
        usvg::Tree::from_str(&text, &usvg::Options::default())
            .map_err(|e| problem(field, format!("{file} cannot be drawn: {e}")))?;
        Ok(Image::Svg(text))
    } else if lower.ends_with(".png") {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder
            .read_info()
            .map_err(|e| problem(field, format!("{file} is not a PNG: {e}")))?;
        reader.output_color_type();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| problem(field, format!("{file} cannot be decoded: {e}")))?;
        let rgba: Vec<u8> = match info.color_type {
            png::ColorType::Rgba => buf[..info.buffer_size()].to_vec(),
            png::ColorType::Rgb => buf[..info.buffer_size()]
                .chunks(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            other => {
                return Err(problem(
                    field,
                    format!("{file} is {other:?}; save it as RGB or RGBA, 8 bits"),
                ));
            }
        };
        if info.width < 192 || info.height < 192 {
            return Err(problem(
                field,
                format!(
                    "{file} is {}x{}; a PNG logo must be at least 192x192 (an SVG is better)",
                    info.width, info.height
                ),
            ));
        }
        let mut pixmap = Pixmap::new(info.width, info.height)
            .ok_or_else(|| problem(field, format!("{file} has no pixels")))?;
        for (dst, src) in pixmap.pixels_mut().iter_mut().zip(rgba.chunks(4)) {
            *dst = tiny_skia::ColorU8::from_rgba(src[0], src[1], src[2], src[3]).premultiply();
        }
        Ok(Image::Png(pixmap))
    } else {
        Err(problem(
            field,
            format!("{file}: use an SVG (best) or a PNG file"),
        ))
    }
}

/// Checks the folder `dir`. `Err` lists every problem found (the field and what to do).
pub fn check(dir: &Path) -> Result<Checked, Vec<Problem>> {
    let toml_path = dir.join("brand.toml");
    let source = std::fs::read_to_string(&toml_path).map_err(|e| {
        vec![problem(
            "brand.toml",
            format!("cannot read {}: {e}", toml_path.display()),
        )]
    })?;
    let brand = brand::parse(&source).map_err(|p| vec![p])?;
    let mut problems = brand.problems();
    let logo = match load_image(dir, "logo", &brand.logo) {
        Ok(img) => Some(img),
        Err(p) => {
            problems.push(p);
            None
        }
    };
    let mut pictograms = Vec::new();
    for p in Pictogram::ALL {
        let image = match brand.pictograms.get(p.name()) {
            Some(file) => load_image(dir, &format!("pictograms.{}", p.name()), file),
            None => Ok(Image::Svg(shipped_pictogram(p).to_owned())),
        };
        match image {
            Ok(img) => pictograms.push((p, img)),
            Err(e) => problems.push(e),
        }
    }
    let (Some(logo), true) = (logo, problems.is_empty()) else {
        return Err(problems);
    };
    let contrasts = brand::contrasts(&brand.colors)
        .into_iter()
        .filter_map(|(fg, bg, _, r)| r.map(|r| (fg, bg, r)))
        .collect();
    Ok(Checked {
        dir: dir.to_owned(),
        source,
        brand,
        logo,
        pictograms,
        contrasts,
    })
}

fn rgb(hex: &str) -> (u8, u8, u8) {
    brand::rgb(hex).unwrap_or((0, 0, 0))
}

/// Draws `image` centred in a `size` square covering `fraction` of it, on `background` (or
/// transparent), an SVG in `tint` where it does not set its own colours.
fn raster(
    image: &Image,
    size: u32,
    fraction: f32,
    background: Option<(u8, u8, u8)>,
    tint: Option<&str>,
) -> Result<Pixmap, String> {
    let mut canvas = Pixmap::new(size, size).ok_or("empty image")?;
    if let Some((r, g, b)) = background {
        canvas.fill(tiny_skia::Color::from_rgba8(r, g, b, 255));
    }
    let box_size = size as f32 * fraction;
    match image {
        Image::Svg(text) => {
            let text = match tint {
                // Pictograms set no fill: the root's fill is inherited by their paths.
                Some(color) => text.replacen("<svg ", &format!("<svg fill=\"{color}\" "), 1),
                None => text.clone(),
            };
            let tree = usvg::Tree::from_str(&text, &usvg::Options::default())
                .map_err(|e| e.to_string())?;
            let s = tree.size();
            let scale = box_size / s.width().max(s.height());
            let (w, h) = (s.width() * scale, s.height() * scale);
            let transform =
                Transform::from_translate((size as f32 - w) / 2.0, (size as f32 - h) / 2.0)
                    .pre_scale(scale, scale);
            resvg::render(&tree, transform, &mut canvas.as_mut());
        }
        Image::Png(src) => {
            let scale = box_size / src.width().max(src.height()) as f32;
            let (w, h) = (src.width() as f32 * scale, src.height() as f32 * scale);
            let transform =
                Transform::from_translate((size as f32 - w) / 2.0, (size as f32 - h) / 2.0)
                    .pre_scale(scale, scale);
            canvas.draw_pixmap(
                0,
                0,
                src.as_ref(),
                &PixmapPaint {
                    quality: tiny_skia::FilterQuality::Bicubic,
                    ..PixmapPaint::default()
                },
                transform,
                None,
            );
        }
    }
    Ok(canvas)
}

/// PNG bytes of `pixmap`; `opaque` drops the alpha channel (the App Store refuses icons with
/// one).
fn png_bytes(pixmap: &Pixmap, opaque: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
        enc.set_color(if opaque {
            png::ColorType::Rgb
        } else {
            png::ColorType::Rgba
        });
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        let data: Vec<u8> = pixmap
            .pixels()
            .iter()
            .flat_map(|p| {
                let c = p.demultiply();
                if opaque {
                    vec![c.red(), c.green(), c.blue()]
                } else {
                    vec![c.red(), c.green(), c.blue(), c.alpha()]
                }
            })
            .collect();
        writer.write_image_data(&data).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Android string resources also escape apostrophes and a leading `@` or `?`.
fn android_string(s: &str) -> String {
    let e = xml_escape(s).replace('\'', "\\'");
    if e.starts_with('@') || e.starts_with('?') {
        format!("\\{e}")
    } else {
        e
    }
}

/// Android densities: (qualifier, scale).
const DENSITIES: &[(&str, f32)] = &[
    ("mdpi", 1.0),
    ("hdpi", 1.5),
    ("xhdpi", 2.0),
    ("xxhdpi", 3.0),
    ("xxxhdpi", 4.0),
];
/// Launcher icon size in dp.
const LAUNCHER_DP: f32 = 48.0;
/// Pictogram size in dp (and pt on iOS).
const PICTOGRAM_DP: f32 = 96.0;
/// Logo size in dp/pt (square box).
const LOGO_DP: f32 = 64.0;

fn android(c: &Checked, out: &Path) -> Result<(), String> {
    let b = &c.brand;
    let res = out.join("res");
    for (values, lang) in [("values", "da"), ("values-en", "en")] {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- Generated by samtale-brand from {}/brand.toml. -->\n<resources>\n    <string name=\"app_name\">{}</string>\n    <string name=\"municipality\">{}</string>\n</resources>\n",
            b.id,
            android_string(b.app_name.get(lang)),
            android_string(b.municipality.get(lang)),
        );
        write(&res.join(values).join("strings.xml"), xml.as_bytes())?;
    }
    let colors = [
        ("brand_background", &b.colors.background),
        ("brand_text", &b.colors.text),
        ("brand_primary", &b.colors.primary),
        ("brand_on_primary", &b.colors.on_primary),
        ("brand_accent", &b.colors.accent),
    ];
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<resources>\n");
    for (name, value) in colors {
        xml.push_str(&format!("    <color name=\"{name}\">{value}</color>\n"));
    }
    xml.push_str("</resources>\n");
    write(&res.join("values").join("colors.xml"), xml.as_bytes())?;
    // Not words: the same in every language (the app's AppConfig.server_url).
    let config = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<resources>\n    <string name=\"brand_server_url\" translatable=\"false\">{}</string>\n    <string name=\"brand_id\" translatable=\"false\">{}</string>\n</resources>\n",
        android_string(&b.server_url),
        android_string(&b.id),
    );
    write(
        &res.join("values").join("brand_config.xml"),
        config.as_bytes(),
    )?;
    let bg = rgb(&b.colors.background);
    for (q, scale) in DENSITIES {
        let px = |dp: f32| (dp * scale).round() as u32;
        let icon = raster(&c.logo, px(LAUNCHER_DP), 0.66, Some(bg), None)?;
        write(
            &res.join(format!("mipmap-{q}")).join("ic_launcher.png"),
            &png_bytes(&icon, false)?,
        )?;
        let logo = raster(&c.logo, px(LOGO_DP), 1.0, None, None)?;
        write(
            &res.join(format!("drawable-{q}")).join("brand_logo.png"),
            &png_bytes(&logo, false)?,
        )?;
        for (p, image) in &c.pictograms {
            let pic = raster(image, px(PICTOGRAM_DP), 1.0, None, Some(&b.colors.text))?;
            write(
                &res.join(format!("drawable-{q}"))
                    .join(format!("pictogram_{}.png", p.name())),
                &png_bytes(&pic, false)?,
            )?;
        }
    }
    // The app hands this to the core (AppConfig.brand_toml): one source for every rule.
    write(&res.join("raw").join("brand.toml"), c.source.as_bytes())?;
    write(
        &out.join("brand.properties"),
        format!(
            "# Generated by samtale-brand: for the app's build.\napplicationId={}\nserverUrl={}\n",
            b.app_id, b.server_url
        )
        .as_bytes(),
    )?;
    Ok(())
}

fn json(value: &serde_json::Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s.into_bytes()
}

const XCODE_INFO: &str = r#"{"author": "samtale-brand", "version": 1}"#;

fn info() -> serde_json::Value {
    serde_json::from_str(XCODE_INFO).unwrap_or(serde_json::Value::Null)
}

fn color_set(hex: &str) -> serde_json::Value {
    let (r, g, b) = rgb(hex);
    serde_json::json!({
        "colors": [{
            "idiom": "universal",
            "color": {
                "color-space": "srgb",
                "components": {
                    "red": format!("0x{r:02X}"),
                    "green": format!("0x{g:02X}"),
                    "blue": format!("0x{b:02X}"),
                    "alpha": "1.000"
                }
            }
        }],
        "info": info()
    })
}

fn image_set(
    dir: &Path,
    stem: &str,
    image: &Image,
    pt: f32,
    tint: Option<&str>,
) -> Result<(), String> {
    let mut images = Vec::new();
    for scale in [1u32, 2, 3] {
        let file = format!("{stem}@{scale}x.png");
        let pic = raster(image, (pt * scale as f32).round() as u32, 1.0, None, tint)?;
        write(&dir.join(&file), &png_bytes(&pic, false)?)?;
        images.push(serde_json::json!({"idiom": "universal", "filename": file, "scale": format!("{scale}x")}));
    }
    write(
        &dir.join("Contents.json"),
        &json(&serde_json::json!({"images": images, "info": info()})),
    )
}

fn ios(c: &Checked, out: &Path) -> Result<(), String> {
    let b = &c.brand;
    let assets = out.join("Assets.xcassets");
    write(
        &assets.join("Contents.json"),
        &json(&serde_json::json!({"info": info()})),
    )?;
    let icon_dir = assets.join("AppIcon.appiconset");
    let icon = raster(&c.logo, 1024, 0.66, Some(rgb(&b.colors.background)), None)?;
    write(&icon_dir.join("AppIcon-1024.png"), &png_bytes(&icon, true)?)?;
    write(
        &icon_dir.join("Contents.json"),
        &json(&serde_json::json!({
            "images": [{"filename": "AppIcon-1024.png", "idiom": "universal", "platform": "ios", "size": "1024x1024"}],
            "info": info()
        })),
    )?;
    for (name, hex) in [
        ("BrandBackground", &b.colors.background),
        ("BrandText", &b.colors.text),
        ("BrandPrimary", &b.colors.primary),
        ("BrandOnPrimary", &b.colors.on_primary),
        ("BrandAccent", &b.colors.accent),
    ] {
        write(
            &assets
                .join(format!("{name}.colorset"))
                .join("Contents.json"),
            &json(&color_set(hex)),
        )?;
    }
    image_set(
        &assets.join("BrandLogo.imageset"),
        "BrandLogo",
        &c.logo,
        LOGO_DP,
        None,
    )?;
    for (p, image) in &c.pictograms {
        let stem = format!("Pictogram-{}", p.name());
        image_set(
            &assets.join(format!("{stem}.imageset")),
            &stem,
            image,
            PICTOGRAM_DP,
            Some(&b.colors.text),
        )?;
    }
    // The system's permission dialogs say these (the core's catalog, with the brand's
    // overrides): the same words as everything else the app says.
    let usage = |lang: &str| {
        b.catalog(lang)
            .map(|catalog| samtale_core::screen::usage_descriptions(&b.view(lang), &catalog))
            .map_err(|e| format!("the catalog for {lang}: {e}"))
    };
    for lang in ["da", "en"] {
        let [mic, cam] = usage(lang)?;
        let quoted = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let strings = format!(
            "/* Generated by samtale-brand from {}/brand.toml. */\n\"CFBundleDisplayName\" = \"{}\";\n\"CFBundleName\" = \"{}\";\n\"NSMicrophoneUsageDescription\" = \"{}\";\n\"NSCameraUsageDescription\" = \"{}\";\n\"SamtaleMunicipality\" = \"{}\";\n",
            b.id,
            quoted(b.app_name.get(lang)),
            quoted(b.app_name.get(lang)),
            quoted(&mic.text),
            quoted(&cam.text),
            quoted(b.municipality.get(lang)),
        );
        write(
            &out.join(format!("{lang}.lproj")).join("InfoPlist.strings"),
            strings.as_bytes(),
        )?;
    }
    let plist = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n    <key>BrandId</key>\n    <string>{}</string>\n    <key>BundleIdentifier</key>\n    <string>{}</string>\n    <key>ServerURL</key>\n    <string>{}</string>\n    <key>DefaultLanguage</key>\n    <string>{}</string>\n</dict>\n</plist>\n",
        xml_escape(&b.id),
        xml_escape(&b.app_id),
        xml_escape(&b.server_url),
        xml_escape(&b.default_language),
    );
    write(&out.join("Brand.plist"), plist.as_bytes())?;
    // For the Xcode project (ios/project.yml): the bundle id, the universal links' host and the
    // Info.plist's texts in the brand's default language (InfoPlist.strings has both).
    let lang = b.default_language.as_str();
    let [mic, cam] = usage(lang)?;
    // xcconfig: `//` starts a comment, so a value must not contain it.
    let xc = |s: &str| s.replace("//", "/ /").replace('\n', " ");
    let xcconfig = format!(
        "// Generated by samtale-brand from {}/brand.toml: the Xcode project's brand settings.\nPRODUCT_BUNDLE_IDENTIFIER = {}\nSAMTALE_APP_NAME = {}\nSAMTALE_SERVER_HOST = {}\nSAMTALE_MICROPHONE_USAGE = {}\nSAMTALE_CAMERA_USAGE = {}\nSAMTALE_MUNICIPALITY = {}\n",
        b.id,
        b.app_id,
        xc(b.app_name.get(lang)),
        server_host(&b.server_url),
        xc(&mic.text),
        xc(&cam.text),
        xc(b.municipality.get(lang)),
    );
    write(&out.join("Brand.xcconfig"), xcconfig.as_bytes())?;
    write(&out.join("brand.toml"), c.source.as_bytes())?;
    Ok(())
}

/// The host of a server URL (`https://samtale.kommune.dk:8443/x` -> `samtale.kommune.dk`): the
/// universal links' associated domain.
fn server_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    host.split(':').next().unwrap_or(host)
}

/// Writes into a fresh folder beside `out`, then moves it into place (replacing an older
/// build). On any error nothing is left behind.
fn atomically(out: &Path, f: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), String> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = parent.join(format!(".{name}.samtale-brand-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = f(&tmp).and_then(|()| {
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Builds the Android resources into `android` and the iOS assets into `ios` (either may be
/// `None`).
pub fn build(
    c: &Checked,
    android_out: Option<&Path>,
    ios_out: Option<&Path>,
) -> Result<(), String> {
    if let Some(out) = android_out {
        atomically(out, |dir| android(c, dir))?;
    }
    if let Some(out) = ios_out {
        atomically(out, |dir| ios(c, dir))?;
    }
    Ok(())
}
