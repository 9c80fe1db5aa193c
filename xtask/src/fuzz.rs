//! Short cargo-fuzz runs of every fuzz target (CI), and how to run them long.
//!
//! Fuzzing needs nightly (sanitizer instrumentation) and `cargo-fuzz`; both are installed on
//! first use. `AUDIOVM_FUZZ_SECONDS` sets the time per target (default 15).

use std::path::Path;
use std::process::Command;

use crate::shell;

/// The cargo-fuzz crates, relative to the workspace root.
const FUZZ_CRATES: &[&str] = &["ring/fuzz", "domain/fuzz"];

pub fn run_all() -> Result<(), String> {
    let seconds = std::env::var("AUDIOVM_FUZZ_SECONDS").unwrap_or_else(|_| "15".into());
    ensure_tools()?;
    for dir in FUZZ_CRATES {
        let dir = shell::root().join(dir);
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        for target in targets(&dir)? {
            let mut command = rustup_cargo(&["+nightly", "fuzz", "run", &target]);
            command
                .current_dir(&dir)
                .args(["--", &format!("-max_total_time={seconds}")]);
            shell::step(&format!("fuzz {target}"), command)?;
        }
    }
    Ok(())
}

/// The targets a fuzz crate declares.
fn targets(dir: &Path) -> Result<Vec<String>, String> {
    let output = rustup_cargo(&["+nightly", "fuzz", "list"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run cargo fuzz list: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo fuzz list failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Installs the nightly toolchain and cargo-fuzz when missing.
fn ensure_tools() -> Result<(), String> {
    if !rustup_cargo(&["+nightly", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let mut install = Command::new("rustup");
        install.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
        shell::step("install nightly (for cargo-fuzz)", install)?;
    }
    if !rustup_cargo(&["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        shell::step(
            "install cargo-fuzz",
            rustup_cargo(&["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    Ok(())
}

/// `cargo` through the rustup proxy, so `+nightly` works.
fn rustup_cargo(args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command
        .args(args)
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN");
    command
}
