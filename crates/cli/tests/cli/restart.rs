//! The daemon killed (SIGKILL) and restarted mid-burst loses and duplicates nothing; SIGTERM
//! drains; obslog commands read the result.

use crate::*;
use redis::Commands;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use tomoe_testkit::{free_port, RedisServer};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status(dir: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(dir.join("state/status.json")).ok()?).ok()
}

fn wait_status(
    dir: &Path,
    what: &str,
    secs: u64,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = status(dir) {
            if pred(&s) {
                return s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            status(dir)
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn log_rows(dir: &Path, sql: &str) -> String {
    String::from_utf8(
        run_ok(
            &[
                "--config",
                "tomoe.toml",
                "obslog",
                "sql",
                "--format",
                "csv",
                sql,
            ],
            dir,
        )
        .stdout,
    )
    .unwrap()
}

fn start_daemon(dir: &Path) -> Proc {
    let _ = std::fs::remove_file(dir.join("state/status.json"));
    let child = tomoe()
        .args(["--config", "tomoe.toml", "archive", "run"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(child);
    wait_status(dir, "daemon up", 20, |s| s["redis_connected"] == true);
    p
}

fn publish_burst(con: &mut redis::Connection, dir: &Path, sim: &tomoe_sim::StackSim, k: usize) {
    for c in 0..84 {
        let f = tomoe_sim::stacks::write_one(sim, &dir.join("source"), k, c).unwrap();
        let _: i64 = con
            .publish("tomoe:files", f.path.file_name().unwrap().to_str().unwrap())
            .unwrap();
    }
}

#[test]
fn sigkill_mid_burst_then_restart_is_exactly_once() {
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("source")).unwrap();
    let port = free_port().unwrap();
    let _server = Proc(
        tomoe()
            .args([
                "files",
                "serve",
                "--dir",
                "source",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .current_dir(d)
            .spawn()
            .unwrap(),
    );
    std::fs::write(
        d.join("tomoe.toml"),
        format!(
            "[archive]\nredis_url = \"{}\"\nsource_url = \"http://127.0.0.1:{port}/\"\narchive_root = \"archive\"\nobslog_root = \"obslog\"\nquarantine = \"quarantine\"\nstate_dir = \"state\"\nconcurrency = 2\nreconcile_interval_s = 0\nflush_interval_ms = 20\n",
            redis.url()
        ),
    )
    .unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let sim = tomoe_sim::StackSim {
        width: 500,
        height: 282,
        start: tomoe_core::UtcMicros::parse_iso("2023-01-02T12:00:00").unwrap(),
        ..Default::default()
    };

    let mut daemon = start_daemon(d);
    for k in 0..3 {
        publish_burst(&mut con, d, &sim, k);
    }
    wait_status(d, "some files archived", 60, |s| {
        s["counts"]["archived"].as_u64() >= Some(5)
    });
    daemon.0.kill().unwrap(); // SIGKILL: no chance to clean up
    daemon.0.wait().unwrap();
    let at_kill: usize = log_rows(d, "SELECT count(*) AS n FROM obslog")
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        at_kill < 252,
        "the kill came after everything was done ({at_kill} rows); the test proves nothing"
    );
    // Announced while the daemon is down: pub/sub drops these.
    publish_burst(&mut con, d, &sim, 3);

    let daemon = start_daemon(d);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n: usize = log_rows(d, "SELECT count(*) AS n FROM obslog")
            .lines()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        if n >= 336 {
            break;
        }
        assert!(Instant::now() < deadline, "only {n} of 336 logged");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(daemon);
    let rows = log_rows(d, "SELECT count(*) AS n, count(DISTINCT file_name) AS d, count(DISTINCT exp_id) AS e FROM obslog");
    assert_eq!(rows, "n,d,e\n336,336,4\n", "exactly once after a crash");
    let nfits = log_rows(d, "SELECT exp_id, nfits FROM exposures ORDER BY exp_id");
    assert_eq!(
        nfits,
        "exp_id,nfits\n860262,84\n860263,84\n860264,84\n860265,84\n"
    );
    // No partial or duplicate files in the archive tree.
    let files = std::fs::read_dir(d.join("archive/2023/2023-01-02"))
        .unwrap()
        .count();
    assert_eq!(files, 336);

    // SIGTERM drains and exits cleanly, writing a final "stopped" status.
    let mut daemon = start_daemon(d);
    let pid = daemon.0.id();
    assert!(Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let st = daemon.0.wait().unwrap();
    assert!(st.success(), "clean exit on SIGTERM");
    let s = status(d).unwrap();
    assert_eq!(s["problems"][0], "stopped");
    let out = tomoe()
        .args(["--config", "tomoe.toml", "archive", "status"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "a stopped daemon is reported unhealthy"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));

    // Output formats and errors of obslog sql.
    let json = run_ok(
        &[
            "--config",
            "tomoe.toml",
            "obslog",
            "sql",
            "--format",
            "json",
            "SELECT exp_id, fps FROM exposures ORDER BY exp_id LIMIT 1",
        ],
        d,
    );
    assert_eq!(
        String::from_utf8(json.stdout).unwrap().trim(),
        r#"[{"exp_id":860262,"fps":2.0}]"#
    );
    let out = tomoe()
        .args([
            "--config",
            "tomoe.toml",
            "obslog",
            "sql",
            "SELECT nope FROM obslog",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("tomoe: error:") && err.contains("nope"),
        "{err}"
    );
    run_ok(
        &[
            "--config",
            "tomoe.toml",
            "obslog",
            "sql",
            "--format",
            "parquet",
            "-o",
            "x.parquet",
            "SELECT * FROM obslog",
        ],
        d,
    );
    assert_eq!(&std::fs::read(d.join("x.parquet")).unwrap()[..4], b"PAR1");
    // Sealing through the CLI keeps every row (the daemon may have sealed the 2023 night
    // already: it seals nights that are over, then late parts reopen it until the next pass).
    let out = run_ok(
        &[
            "--config",
            "tomoe.toml",
            "obslog",
            "seal",
            "--night",
            "2023-01-02",
        ],
        d,
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("sealed 336 rows") || said.contains("already sealed"),
        "{said}"
    );
    assert_eq!(log_rows(d, "SELECT count(*) AS n FROM obslog"), "n\n336\n");
    let nights =
        String::from_utf8(run_ok(&["--config", "tomoe.toml", "obslog", "nights"], d).stdout)
            .unwrap();
    assert!(
        nights.contains("2023-01-02") && nights.contains("sealed"),
        "{nights}"
    );
}
