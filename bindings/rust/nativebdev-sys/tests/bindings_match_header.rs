//! The checked-in bindings are exactly what bindgen generates from the header today.
use std::path::Path;
use std::process::Command;

#[test]
fn bindings_match_header() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../regen.sh");
    let out = Command::new(script).arg("--check").output().expect("run regen.sh --check");
    assert!(
        out.status.success(),
        "regen.sh --check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn links_the_library() {
    let v = unsafe { std::ffi::CStr::from_ptr(nativebdev_sys::nb_version()) };
    assert_eq!(v.to_bytes(), &nativebdev_sys::NB_VERSION_STRING[..5]);
}
