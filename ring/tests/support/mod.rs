//! Checks Rust definitions against the real Xen public headers.
//!
//! A `Conformance` collects pairs of (C expression, value our Rust code uses), writes a C
//! program that prints every expression, compiles it against the headers in `XEN_INCLUDE`
//! (default `/usr/include`, Debian's `libxen-dev`) and compares. Every mismatch is reported,
//! not only the first. A missing compiler or missing headers fail the test with what to install.

#![allow(dead_code)] // each test binary uses a different part

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `xen/io/*.h`.
pub fn xen_include() -> PathBuf {
    let dir = PathBuf::from(std::env::var("XEN_INCLUDE").unwrap_or_else(|_| "/usr/include".into()));
    assert!(
        dir.join("xen/io/sndif.h").exists(),
        "Xen public headers not found in {} (XEN_INCLUDE): install them with \
         `apt-get install libxen-dev`, or point XEN_INCLUDE at a directory holding xen/io/sndif.h",
        dir.display()
    );
    dir
}

/// The C compiler: `$CC`, else `cc`.
pub fn c_compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

/// A value as the C program printed it and as our Rust code has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub c_expr: String,
    pub c_value: i128,
    pub rust_value: i128,
}

/// A list of C expressions and the values our Rust definitions give them.
pub struct Conformance {
    preamble: String,
    checks: Vec<(String, i128)>,
}

impl Conformance {
    /// `headers` are included in order, e.g. `["xen/io/sndif.h"]`; `stdint.h`, `stddef.h` and
    /// `stdio.h` come first.
    pub fn new(headers: &[&str]) -> Self {
        let mut preamble = String::from(
            "#include <stdint.h>\n#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n",
        );
        for header in headers {
            writeln!(preamble, "#include <{header}>").unwrap();
        }
        Conformance {
            preamble,
            checks: Vec::new(),
        }
    }

    /// Adds C code after the includes (helper typedefs, macro instantiations).
    pub fn prelude(&mut self, code: &str) -> &mut Self {
        self.preamble.push_str(code);
        self.preamble.push('\n');
        self
    }

    /// Expects the C expression `c_expr` (an integer constant, `sizeof`, `offsetof`) to equal `rust`.
    pub fn expect(&mut self, c_expr: &str, rust: impl TryInto<i128>) -> &mut Self {
        let rust = rust
            .try_into()
            .unwrap_or_else(|_| panic!("{c_expr}: Rust value out of range"));
        self.checks.push((c_expr.to_string(), rust));
        self
    }

    /// The C string constant `c_expr` equals `rust` (a mismatch is reported as the `strcmp`).
    pub fn expect_str(&mut self, c_expr: &str, rust: &str) -> &mut Self {
        let literal: String = rust.chars().flat_map(char::escape_default).collect();
        self.expect(&format!("(strcmp({c_expr}, \"{literal}\") == 0)"), 1)
    }

    /// `sizeof(c_type) == rust`.
    pub fn size(&mut self, c_type: &str, rust: usize) -> &mut Self {
        self.expect(&format!("sizeof({c_type})"), rust)
    }

    /// `offsetof(c_type, field) == rust`.
    pub fn offset(&mut self, c_type: &str, field: &str, rust: usize) -> &mut Self {
        self.expect(&format!("offsetof({c_type}, {field})"), rust)
    }

    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// Compiles against `include_dir` and returns every mismatch.
    pub fn mismatches(&self, include_dir: &Path) -> Vec<Mismatch> {
        let values = self.c_values(include_dir);
        self.checks
            .iter()
            .zip(values)
            .filter(|((_, rust), c)| rust != c)
            .map(|((expr, rust), c)| Mismatch {
                c_expr: expr.clone(),
                c_value: c,
                rust_value: *rust,
            })
            .collect()
    }

    /// Panics listing every mismatch against the headers in `XEN_INCLUDE`.
    pub fn assert_all(&self) {
        let mismatches = self.mismatches(&xen_include());
        assert!(
            mismatches.is_empty(),
            "{} of {} definitions differ from the Xen headers:\n{}",
            mismatches.len(),
            self.checks.len(),
            mismatches
                .iter()
                .map(|m| format!("  {}: C {} vs Rust {}", m.c_expr, m.c_value, m.rust_value))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    fn c_values(&self, include_dir: &Path) -> Vec<i128> {
        let dir = tempdir();
        let source = dir.join("probe.c");
        let binary = dir.join("probe");
        let mut program = self.preamble.clone();
        program.push_str("int main(void) {\n");
        for (expr, _) in &self.checks {
            // Print signed and unsigned so every 64-bit value round-trips.
            writeln!(
                program,
                "  if (({expr}) < 0) printf(\"-%llu\\n\", (unsigned long long)-(long long)({expr})); \
                 else printf(\"%llu\\n\", (unsigned long long)({expr}));"
            )
            .unwrap();
        }
        program.push_str("  return 0;\n}\n");
        std::fs::write(&source, &program).unwrap();
        let compiler = c_compiler();
        let output = Command::new(&compiler)
            .arg("-std=gnu11")
            .arg("-w")
            .arg("-I")
            .arg(include_dir)
            .arg(&source)
            .arg("-o")
            .arg(&binary)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run the C compiler `{compiler}` ({e}): install it with `apt-get install gcc`")
            });
        assert!(
            output.status.success(),
            "compiling the conformance probe against {} failed:\n{}",
            include_dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let run = Command::new(&binary)
            .output()
            .expect("run the conformance probe");
        assert!(run.status.success(), "the conformance probe failed");
        let values: Vec<i128> = String::from_utf8(run.stdout)
            .unwrap()
            .lines()
            .map(|line| line.parse().expect("probe prints integers"))
            .collect();
        assert_eq!(
            values.len(),
            self.checks.len(),
            "the probe printed one line per check"
        );
        let _ = std::fs::remove_dir_all(&dir);
        values
    }
}

/// A fresh directory under the target's temp area.
pub fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "audiovm-conformance-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies the Xen headers to a scratch directory and applies `edit` to one file, for tests
/// proving that a changed header is noticed.
pub fn mutated_headers(file: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let dir = tempdir();
    copy_dir(&xen_include().join("xen"), &dir.join("xen"));
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(text, edited, "the mutation must change {file}");
    std::fs::write(&path, edited).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
