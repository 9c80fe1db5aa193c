//! `cargo xtask`: the project's commands (the matklad xtask pattern).
//!
//! - `build`: the domain image for `x86_64-unknown-none`;
//! - `run`: boot the image in QEMU with an emulated HDA card;
//! - `test`: every check and test in the project (what CI runs);
//! - `bench`: the benchmarks, with their reports.

mod bzimage;
mod deps;
mod fuzz;
mod image;
mod shell;
mod xen;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  build    build the domain image (prints the artifact paths)
  run      boot the image in QEMU with an emulated Intel HDA card
           (--xen: in a real Xen machine, as a driver domain, with a dom0 shell)
  test     run every check and test (formatting, clippy, unit, conformance, QEMU, fuzz)
  fuzz     run every cargo-fuzz target briefly (AUDIOVM_FUZZ_SECONDS each, default 15)
  bench    run the benchmarks and print their reports
  deps     check (and as root, install) the Debian packages the project needs
  xen      boot real Xen in QEMU and run audiovm as a driver domain (`xen help`)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => image::build().map(|artifacts| artifacts.print()),
        Some("run") if args[1..] == ["--xen"] => image::build().and_then(|a| xen::interactive(&a)),
        Some("run") => image::run(&args[1..]),
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        Some("deps") => deps::ensure(deps::ALL),
        Some("fuzz") => fuzz::run_all(),
        Some("xen") => xen::command(&args[1..]),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Everything CI checks, in order of cost: cheap checks first so mistakes fail fast.
fn test() -> Result<(), String> {
    deps::ensure(deps::TEST)?;
    shell::step("format", shell::cargo(&["fmt", "--all", "--check"]))?;
    shell::step(
        "clippy (host)",
        shell::cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    shell::step(
        "clippy (image)",
        shell::cargo(&[
            "clippy",
            "--package",
            "audiovm",
            "--package",
            "boot",
            "--target",
            image::TARGET,
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let artifacts = image::build()?;
    artifacts.print();
    let mut tests = shell::cargo(&["test", "--workspace"]);
    artifacts.export(&mut tests);
    shell::step("tests", tests)?;
    fuzz::run_all()?;
    // Real Xen in QEMU: audiovm as a driver domain serving stock Linux guests.
    xen::run(&artifacts, CI_XEN_SCENARIOS)
}

/// The Xen scenarios `cargo xtask test` runs: all but `linux-audio`, the yardstick measured
/// for the README (`cargo xtask xen linux-audio`).
const CI_XEN_SCENARIOS: &[&str] = &["card", "play", "capture", "two-guests", "crash"];

/// The benchmarks, each printing its own report (criterion ratios and figures).
fn bench(extra: &[String]) -> Result<(), String> {
    deps::ensure(deps::BENCH)?;
    let mut args = vec!["bench", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    shell::step("benchmarks", shell::cargo(&args))
}
