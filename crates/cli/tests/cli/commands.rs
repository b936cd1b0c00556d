//! The one-shot commands: output, formats, and one-line errors with non-zero exit codes.

use crate::*;

#[test]
fn fits_header_on_sample_and_simulated_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        &[
            "fits",
            "header",
            fixture("flat.hdr").to_str().unwrap(),
            "--json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exp_id"], 1020107);
    assert_eq!(v["frame_id"], "TMQ1202310020102010711");
    assert_eq!(v["n_frames"], 180);
    assert_eq!(v["pointing_valid"], false);
    assert_eq!(v["utc_start"], "2023-10-02T05:03:48.686329");

    run_ok(
        &[
            "sim",
            "stacks",
            "--out",
            "sim",
            "--exposures",
            "1",
            "--chips",
            "2",
            "--width",
            "64",
            "--height",
            "32",
            "--start",
            "2023-01-02T12:00:00",
        ],
        dir.path(),
    );
    let f = dir.path().join("sim/sTMQ1202301020086026211.fits");
    let out = run_ok(&["fits", "header", f.to_str().unwrap()], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("structure OK: 1 HDU(s)") && text.contains("checksums verified in 1"),
        "{text}"
    );
    // A damaged file is reported, not crashed on.
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&f, bytes).unwrap();
    let out = run_ok(&["fits", "header", f.to_str().unwrap()], dir.path());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("STRUCTURE PROBLEM"),
        "truncated file flagged"
    );
    let out = tomoe()
        .args(["fits", "header", "missing.fits"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.fits"));
}

#[test]
fn config_example_check_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(&["config", "example"], dir.path());
    std::fs::write(dir.path().join("tomoe.toml"), &out.stdout).unwrap();
    run_ok(&["config", "check"], dir.path());
    std::fs::write(dir.path().join("bad.toml"), "[archive]\nconcurency = 2\n").unwrap();
    let out = tomoe()
        .args(["--config", "bad.toml", "config", "check"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("concurency"),
        "{err}"
    );
    let out = tomoe()
        .args(["config", "check"])
        .env("TOMOE_ARCHIVE_CONCURRENCY", "0")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("concurrency"));
    // Bad usage is exit code 2 (clap).
    let out = tomoe()
        .args(["obslog", "sql"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn status_without_daemon_is_exit_3_or_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = tomoe()
        .args(["archive", "status"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "no status file at all");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no status"));
}
