//! Links libnativebdev.so from the CMake build directory: $NB_BUILD (the directory
//! build.sh builds into), else the repository's build/. The library's directory is also
//! put in the rpath so tests and examples run without LD_LIBRARY_PATH.
use std::env;
use std::path::PathBuf;

fn main() {
    let build = match env::var_os("NB_BUILD") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../../../build"),
    };
    let lib_dir = build.join("nativebdev");
    // NB_BUILD is taken as given (absolute, as build.sh passes it); the default is relative
    // to this crate.
    let lib_dir = lib_dir.canonicalize().unwrap_or(lib_dir);
    if !lib_dir.join("libnativebdev.so").exists() {
        println!("cargo:warning=no libnativebdev.so in {} (run ./build.sh build, or set NB_BUILD to the build directory)", lib_dir.display());
    }
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=dylib=nativebdev");
    // `links` metadata for dependents: nativebdev's build.rs sets the rpath from it.
    println!("cargo:lib_dir={}", lib_dir.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    println!("cargo:rerun-if-env-changed=NB_BUILD");
}
