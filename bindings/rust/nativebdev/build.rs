//! The rpath for this crate's tests and examples: the directory nativebdev-sys links
//! libnativebdev.so from (its `links` metadata), so they run without LD_LIBRARY_PATH.
fn main() {
    if let Some(dir) = std::env::var_os("DEP_NATIVEBDEV_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
