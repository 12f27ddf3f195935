//! `samtale-brand check DIR` and `samtale-brand build DIR --android OUT --ios OUT`.
//! Exit codes: 0 fine, 1 the brand has problems (each printed as `field: what to do`),
//! 2 the output could not be written.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "samtale-brand",
    about = "Check and build a municipality's Samtale brand"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a brand folder (brand.toml, logo, pictograms) and prints what to fix.
    Check {
        /// The brand folder (with brand.toml).
        dir: PathBuf,
    },
    /// Checks, then writes the Android res/ and the iOS asset catalog.
    Build {
        /// The brand folder (with brand.toml).
        dir: PathBuf,
        /// Where to write the Android resources (a `res/` folder inside).
        #[arg(long)]
        android: Option<PathBuf>,
        /// Where to write the iOS assets (Assets.xcassets, *.lproj, Brand.plist).
        #[arg(long)]
        ios: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = match &cli.command {
        Command::Check { dir } | Command::Build { dir, .. } => dir.clone(),
    };
    let checked = match samtale_brand::check(&dir) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("{}: {} problem(s):", dir.display(), problems.len());
            for p in problems {
                eprintln!("  {p}");
            }
            return ExitCode::from(1);
        }
    };
    println!("{}: ok ({})", dir.display(), checked.brand.id);
    for (fg, bg, ratio) in &checked.contrasts {
        println!("  contrast colors.{fg} on colors.{bg}: {ratio:.2}:1");
    }
    if let Command::Build { android, ios, .. } = &cli.command {
        if android.is_none() && ios.is_none() {
            eprintln!("nothing to build: give --android OUT and/or --ios OUT");
            return ExitCode::from(2);
        }
        if let Err(e) = samtale_brand::build(&checked, android.as_deref(), ios.as_deref()) {
            eprintln!("cannot write the output: {e}");
            return ExitCode::from(2);
        }
        for (what, out) in [("android", android), ("ios", ios)] {
            if let Some(out) = out {
                println!("  {what}: {}", out.display());
            }
        }
    }
    ExitCode::SUCCESS
}
