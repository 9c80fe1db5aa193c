//! Running programs, with the command line shown so a failure can be reproduced by hand.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Where cargo puts build output: `CARGO_TARGET_DIR`, else `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// A `cargo` command in the workspace root, using the cargo that runs xtask.
pub fn cargo(args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(args).current_dir(root());
    command
}

/// Runs one named step, failing with the command line when it does not succeed.
pub fn step(name: &str, mut command: Command) -> Result<(), String> {
    println!("==> {name}: {}", describe(&command));
    let status = command
        .status()
        .map_err(|e| format!("{name}: cannot start {}: {e}", describe(&command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status}): {}", describe(&command)))
    }
}

pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
