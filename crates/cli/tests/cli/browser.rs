//! The demo serves the archive pages; a real headless Chromium (Debian `chromium`, driven by
//! playwright-core from npm: tests/browser) searches a column; the blocklist CLI hides an
//! exposure from the running server; Ctrl-C stops the demo cleanly.

use crate::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Minimal HTTP/1.0 GET over loopback: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

fn json_get(addr: &str, path: &str) -> serde_json::Value {
    let (s, b) = http_get(addr, path);
    assert_eq!(s, 200, "{path}: {b}");
    serde_json::from_str(&b).unwrap()
}

#[test]
fn demo_serves_pages_a_browser_searches_and_the_blocklist_applies() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = tomoe()
        .args([
            "demo",
            "--dir",
            "d",
            "--exposures",
            "5",
            "--chips",
            "2",
            "--width",
            "100",
            "--height",
            "60",
            "--listen",
            "127.0.0.1:0",
            "--serve-for",
            "600",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the demo printed no URL");
        if let Some(rest) = line.strip_prefix("Archive pages: http://") {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    let years = json_get(&addr, "/api/years");
    let year = years[0]["year"].as_i64().unwrap();
    assert_eq!(years[0]["exposures"].as_u64(), Some(5), "{years}");
    // Previews were made at ingest.
    let one = json_get(&addr, "/api/exposures?length=1");
    let exp = one["rows"][0]["exp_id"].as_i64().unwrap();
    let files = json_get(&addr, &format!("/api/exposures/{exp}"));
    let rel = files["files"][0]["path"].as_str().unwrap().to_string();
    assert!(dir
        .path()
        .join("d/previews")
        .join(format!("{rel}.thumb.png"))
        .is_file());

    // A real browser types into the object column's search box.
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots).unwrap();
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/browser/archive.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .args([
            &format!("http://{addr}"),
            &year.to_string(),
            "dith2",
            shots.to_str().unwrap(),
        ])
        .output()
        .expect("node (installed with the test command)");
    assert!(
        out.status.success(),
        "browser test failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let before: Vec<String> = serde_json::from_value(v["before"].clone()).unwrap();
    let after: Vec<String> = serde_json::from_value(v["after"].clone()).unwrap();
    assert_eq!(before.len(), 5, "{v}");
    assert!(!after.is_empty() && after.len() < before.len(), "{v}");
    assert!(
        after.iter().all(|o| o.to_lowercase().contains("dith2")),
        "{v}"
    );
    assert_eq!(
        v["external"],
        serde_json::json!([]),
        "the page loaded something from outside"
    );
    assert!(shots.join("archive-search.png").is_file());

    // The blocklist CLI hides the exposure from the running server (next refresh, 1 s).
    let cfg = dir.path().join("d/tomoe.toml");
    let cfg = cfg.to_str().unwrap();
    run_ok(
        &[
            "--config",
            cfg,
            "blocklist",
            "add",
            "--object",
            "*_dith2",
            "--reason",
            "test",
            "--author",
            "ci",
        ],
        dir.path(),
    );
    let t0 = Instant::now();
    loop {
        let v = json_get(&addr, "/api/exposures?q=dith2");
        if v["filtered"].as_u64() == Some(0) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "still visible: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let list = run_ok(&["--config", cfg, "blocklist", "list"], dir.path());
    assert!(String::from_utf8_lossy(&list.stdout).contains("object *_dith2"));
    run_ok(
        &[
            "--config",
            cfg,
            "blocklist",
            "remove",
            "1",
            "--author",
            "ci",
        ],
        dir.path(),
    );
    let audit = run_ok(&["--config", cfg, "blocklist", "audit"], dir.path());
    assert_eq!(String::from_utf8_lossy(&audit.stdout).lines().count(), 2);
    let bad = tomoe()
        .args([
            "--config",
            cfg,
            "blocklist",
            "add",
            "--cone",
            "10,95,1",
            "--reason",
            "r",
            "--author",
            "a",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("dec 95"));

    // Ctrl-C: the demo stops serving and exits cleanly.
    let status = crate::interrupt(&mut demo, "demo", Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}
