//! End-to-end tests of the `tomoe` binary: real processes, real redis-server, real HTTP.

#![allow(clippy::unwrap_used)]

mod browser;
mod commands;
mod lc;
mod restart;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn tomoe() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tomoe"));
    c.env("TOMOE_LOG", "warn").env_remove("TOMOE_CONFIG");
    c
}

pub fn run_ok(args: &[&str], cwd: &Path) -> Output {
    let out = tomoe().args(args).current_dir(cwd).output().unwrap();
    assert!(
        out.status.success(),
        "tomoe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fits/tests/data/headers")
        .join(name)
}

/// Sends SIGINT (Ctrl-C) to `child` and waits for it to exit, failing the test after `within`.
pub fn interrupt(
    child: &mut std::process::Child,
    what: &str,
    within: std::time::Duration,
) -> std::process::ExitStatus {
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let t0 = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(t0.elapsed() < within, "{what} did not stop on SIGINT");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
