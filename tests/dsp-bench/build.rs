//! Links the system speexdsp, the reference the resampler is measured against. A missing
//! library is an error, never a silent skip: the comparison is the point of this crate.

fn main() {
    println!("cargo:rerun-if-env-changed=SPEEXDSP_INCLUDE");
    let include = std::env::var("SPEEXDSP_INCLUDE").unwrap_or_else(|_| "/usr/include".into());
    let header = std::path::Path::new(&include).join("speex/speex_resampler.h");
    if !header.exists() {
        panic!(
            "libspeexdsp-dev is missing: apt-get install libspeexdsp-dev \
             (looked for {}; set SPEEXDSP_INCLUDE to the directory holding speex/)",
            header.display()
        );
    }
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rustc-link-lib=speexdsp");
}
