//! Builds the C peer against the Xen headers in `XEN_INCLUDE` (default `/usr/include`).

fn main() {
    let include = std::env::var("XEN_INCLUDE").unwrap_or_else(|_| "/usr/include".into());
    println!("cargo:rerun-if-env-changed=XEN_INCLUDE");
    println!("cargo:rerun-if-changed=csrc/peer.c");
    if !std::path::Path::new(&include)
        .join("xen/io/sndif.h")
        .exists()
    {
        panic!(
            "the Xen public headers are missing from {include}: install them with \
             `apt-get install libxen-dev` (or set XEN_INCLUDE)"
        );
    }
    cc::Build::new()
        .file("csrc/peer.c")
        .include(&include)
        .opt_level(2)
        .warnings(true)
        .compile("ringpeer");
}
