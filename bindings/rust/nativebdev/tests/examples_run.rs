//! The examples (built by `cargo test` alongside the tests) run and say what they should.
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/this-test -> target/<profile>/examples/NAME
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("examples").join(name)
}

#[test]
fn hello_bdev_reads_back_hello_world() {
    let out = Command::new(example("hello_bdev")).output().expect("run hello_bdev");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Read string from bdev: Hello World!"), "{stdout}");
}

#[test]
fn perf_reports_iops_in_every_mode() {
    let modes: [&[&str]; 6] = [&[], &["--raw"], &["--async"], &["--host"], &["--host", "--raw"], &["--host", "--async"]];
    for mode in modes {
        let out = Command::new(example("perf")).args(["-q", "8", "-t", "0.2"]).args(mode).output().expect("run perf");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let iops: f64 = stdout.lines().find_map(|l| l.strip_prefix("IOPS: ")).expect("IOPS line").parse().unwrap();
        assert!(iops > 1000.0, "{stdout}");
        assert!(stdout.contains(", 0 failed"), "{stdout}");
        let driver = if mode.contains(&"--host") { "(host)" } else { "(reactor)" };
        assert!(stdout.contains(driver), "{mode:?}: {stdout}");
    }
    let out = Command::new(example("perf")).args(["-q", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad option is a usage error");
}
