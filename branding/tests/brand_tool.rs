//! `samtale-brand` as a municipality's IT person runs it: the shipped brands pass and build;
//! each broken brand folder fails with its own message and writes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

const TOOL: &str = env!("CARGO_BIN_EXE_samtale-brand");

fn brands() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../brands")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(TOOL)
        .args(args)
        .output()
        .expect("samtale-brand runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn png_info(path: &Path) -> (u32, u32, png::ColorType) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let info = reader.info();
    (info.width, info.height, info.color_type)
}

#[test]
fn the_shipped_brands_pass_and_build_for_both_platforms() {
    for id in ["eksempel", "fjordby"] {
        let dir = brands().join(id);
        let dir = dir.to_string_lossy();
        let (code, out, err) = run(&["check", &dir]);
        assert_eq!(code, 0, "{id}: {out}{err}");
        assert!(
            out.contains("contrast colors.text on colors.background"),
            "{out}"
        );

        let tmp = tempfile::tempdir().expect("tmp");
        let (android, ios) = (tmp.path().join("android"), tmp.path().join("ios"));
        let (code, out, err) = run(&[
            "build",
            &dir,
            "--android",
            &android.to_string_lossy(),
            "--ios",
            &ios.to_string_lossy(),
        ]);
        assert_eq!(code, 0, "{id}: {out}{err}");

        // Android: launcher icons and pictograms per density, at the right pixel sizes.
        let res = android.join("res");
        for (q, scale) in [
            ("mdpi", 1),
            ("hdpi", 1),
            ("xhdpi", 2),
            ("xxhdpi", 3),
            ("xxxhdpi", 4),
        ] {
            let (w, h, _) = png_info(&res.join(format!("mipmap-{q}/ic_launcher.png")));
            assert_eq!(w, h);
            if q != "hdpi" {
                assert_eq!(w, 48 * scale, "{id} {q}");
            }
            for p in [
                "code",
                "call",
                "wait",
                "talk",
                "reconnect",
                "done",
                "offline",
                "problem",
            ] {
                assert!(
                    res.join(format!("drawable-{q}/pictogram_{p}.png"))
                        .is_file(),
                    "{id} {q} {p}"
                );
            }
        }
        let strings = std::fs::read_to_string(res.join("values/strings.xml")).expect("da strings");
        let strings_en = std::fs::read_to_string(res.join("values-en/strings.xml")).expect("en");
        assert!(strings.contains("<string name=\"app_name\">"), "{strings}");
        assert!(
            strings_en.contains("<string name=\"app_name\">"),
            "{strings_en}"
        );
        let colors = std::fs::read_to_string(res.join("values/colors.xml")).expect("colors");
        let brand = std::fs::read_to_string(brands().join(id).join("brand.toml")).expect("toml");
        let parsed = samtale_core::brand::parse(&brand).expect("brand");
        assert!(colors.contains(&format!(
            "<color name=\"brand_primary\">{}</color>",
            parsed.colors.primary
        )));
        let config = std::fs::read_to_string(res.join("values/brand_config.xml")).expect("config");
        assert!(
            config.contains(&format!(
                "<string name=\"brand_server_url\" translatable=\"false\">{}</string>",
                parsed.server_url
            )),
            "{config}"
        );
        assert_eq!(
            std::fs::read_to_string(res.join("raw/brand.toml")).ok(),
            Some(brand.clone())
        );

        // iOS: every Contents.json parses and names files that exist; colours match.
        let assets = ios.join("Assets.xcassets");
        assert!(json(&assets.join("Contents.json"))["info"]["version"] == 1);
        let mut sets = 0;
        for entry in std::fs::read_dir(&assets).expect("assets") {
            let path = entry.expect("entry").path();
            if !path.is_dir() {
                continue;
            }
            sets += 1;
            let contents = json(&path.join("Contents.json"));
            for image in contents["images"].as_array().into_iter().flatten() {
                let file = image["filename"].as_str().expect("filename");
                assert!(path.join(file).is_file(), "{}: {file}", path.display());
            }
        }
        assert_eq!(
            sets,
            1 + 5 + 1 + 8,
            "AppIcon, 5 colours, logo, 8 pictograms"
        );
        let (w, h, color) = png_info(&assets.join("AppIcon.appiconset/AppIcon-1024.png"));
        assert_eq!(
            (w, h, color),
            (1024, 1024, png::ColorType::Rgb),
            "no alpha in the App Store icon"
        );
        let primary = json(&assets.join("BrandPrimary.colorset/Contents.json"));
        let red = primary["colors"][0]["color"]["components"]["red"]
            .as_str()
            .expect("red");
        assert_eq!(
            red,
            format!("0x{}", &parsed.colors.primary[1..3].to_uppercase())
        );
        for lang in ["da", "en"] {
            let s = std::fs::read_to_string(ios.join(format!("{lang}.lproj/InfoPlist.strings")))
                .expect("strings");
            assert!(
                s.contains(&format!(
                    "\"CFBundleDisplayName\" = \"{}\";",
                    parsed.app_name.get(lang)
                )),
                "{s}"
            );
        }
        for lang in ["da", "en"] {
            let s = std::fs::read_to_string(ios.join(format!("{lang}.lproj/InfoPlist.strings")))
                .expect("strings");
            let catalog = parsed.catalog(lang).expect("catalog");
            for (key, text) in [
                ("NSMicrophoneUsageDescription", "microphone-usage"),
                ("NSCameraUsageDescription", "camera-usage"),
            ] {
                let words = catalog.get(text, &Default::default());
                assert!(
                    s.contains(&format!("\"{key}\" = \"{words}\";")),
                    "{lang} {key}: {s}"
                );
            }
            assert!(
                s.contains(&format!(
                    "\"SamtaleMunicipality\" = \"{}\";",
                    parsed.municipality.get(lang)
                )),
                "{s}"
            );
        }
        let xcconfig = std::fs::read_to_string(ios.join("Brand.xcconfig")).expect("xcconfig");
        assert!(
            xcconfig.contains(&format!("PRODUCT_BUNDLE_IDENTIFIER = {}\n", parsed.app_id)),
            "{xcconfig}"
        );
        let host = parsed
            .server_url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', ':']).next())
            .expect("host");
        assert!(
            xcconfig.contains(&format!("SAMTALE_SERVER_HOST = {host}\n")),
            "{xcconfig}"
        );
        for line in xcconfig.lines().skip(1) {
            assert!(
                !line.contains("//"),
                "an xcconfig value with a comment in it: {line}"
            );
        }
        let plist = std::fs::read_to_string(ios.join("Brand.plist")).expect("plist");
        assert!(
            plist.contains(&format!("<string>{}</string>", parsed.app_id)),
            "{plist}"
        );
    }
}

/// A copy of the example brand with `edit` applied to its folder.
fn broken(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("brand");
    std::fs::create_dir_all(&dir).expect("dir");
    for f in ["brand.toml", "logo.svg"] {
        std::fs::copy(brands().join("eksempel").join(f), dir.join(f)).expect("copy");
    }
    edit(&dir);
    tmp
}

fn replace(dir: &Path, from: &str, to: &str) {
    let path = dir.join("brand.toml");
    let text = std::fs::read_to_string(&path).expect("toml");
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn each_broken_brand_fails_with_its_message_and_writes_nothing() {
    type Edit = Box<dyn Fn(&Path)>;
    let override_da = |text: &'static str| -> Edit {
        Box::new(move |d: &Path| {
            let path = d.join("brand.toml");
            let mut t = std::fs::read_to_string(&path).expect("toml");
            t.push_str(&format!("\n[overrides.da]\n{text}\n"));
            std::fs::write(&path, t).expect("write");
        })
    };
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "low contrast",
            Box::new(|d: &Path| replace(d, "text = \"#1A1A1A\"", "text = \"#9A9A9A\"")),
            "colors.text: contrast with colors.background is 2.8",
        ),
        (
            "bad phone",
            Box::new(|d: &Path| replace(d, "+45 70 12 34 56", "70-12-34")),
            "help.phone: \"70-12-34\" cannot be dialled",
        ),
        (
            "http URL",
            Box::new(|d: &Path| {
                replace(
                    d,
                    "https://samtale.eksempel-kommune.dk",
                    "http://samtale.eksempel-kommune.dk",
                )
            }),
            "server_url: \"http://samtale.eksempel-kommune.dk\" must start with https://",
        ),
        (
            "missing logo",
            Box::new(|d: &Path| std::fs::remove_file(d.join("logo.svg")).expect("rm")),
            "logo: cannot read",
        ),
        (
            "broken logo",
            Box::new(|d: &Path| std::fs::write(d.join("logo.svg"), "<svg").expect("w")),
            "logo: logo.svg cannot be drawn",
        ),
        (
            "tiny PNG logo",
            Box::new(|d: &Path| {
                replace(d, "logo = \"logo.svg\"", "logo = \"logo.png\"");
                let mut png_bytes = Vec::new();
                {
                    let mut enc = png::Encoder::new(&mut png_bytes, 16, 16);
                    enc.set_color(png::ColorType::Rgba);
                    let mut w = enc.write_header().expect("header");
                    w.write_image_data(&[0u8; 16 * 16 * 4]).expect("data");
                }
                std::fs::write(d.join("logo.png"), png_bytes).expect("w");
            }),
            "logo: logo.png is 16x16; a PNG logo must be at least 192x192",
        ),
        (
            "unknown key",
            override_da("hjem-knap = \"Ring\""),
            "overrides.da.hjem-knap: unknown text key",
        ),
        (
            "long Danish override",
            override_da("home-action = \"Ring til din bostøttemedarbejder nu\""),
            "overrides.da.home-action: \"Ring til din bostøttemedarbejder nu\" has 35 characters",
        ),
        (
            "hard Danish override",
            override_da("waiting-body = \"Kontaktpersonen etablerer forbindelsen efterfølgende.\""),
            "overrides.da.waiting-body: LIX",
        ),
        (
            "malformed TOML",
            Box::new(|d: &Path| replace(d, "[colors]", "[colors")),
            "brand.toml: TOML parse error at line",
        ),
        (
            "unknown pictogram",
            Box::new(|d: &Path| {
                let path = d.join("brand.toml");
                let mut t = std::fs::read_to_string(&path).expect("toml");
                t.push_str("\n[pictograms]\nringe = \"logo.svg\"\n");
                std::fs::write(&path, t).expect("write");
            }),
            "pictograms.ringe: unknown pictogram",
        ),
    ];
    for (what, edit, expect) in cases {
        let tmp = broken(|d| edit(d));
        let dir = tmp.path().join("brand");
        let (android, ios) = (tmp.path().join("android"), tmp.path().join("ios"));
        let (code, out, err) = run(&[
            "build",
            &dir.to_string_lossy(),
            "--android",
            &android.to_string_lossy(),
            "--ios",
            &ios.to_string_lossy(),
        ]);
        assert_eq!(code, 1, "{what}: exit {code}: {out}{err}");
        assert!(
            err.contains(expect),
            "{what}: expected {expect:?} in:\n{err}"
        );
        assert!(!android.exists() && !ios.exists(), "{what}: wrote output");
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("tmp")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{what}: half-written output left: {leftovers:?}"
        );
    }
}
