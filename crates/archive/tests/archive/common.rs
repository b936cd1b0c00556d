//! Shared set-up: redis, a file server, a daemon, simulated stacks.

use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tomoe_archive::config::ArchiveConfig;
use tomoe_archive::daemon::read_status;
use tomoe_archive::status::Status;
use tomoe_sim::StackSim;
use tomoe_store::{ObsLog, ObsLogQuery};
use tomoe_testkit::RedisServer;

pub struct Env {
    pub redis: RedisServer,
    pub dir: tempfile::TempDir,
    pub source: PathBuf,
    pub base: String,
}

/// Serves `router` on a free loopback port; returns the base URL.
pub async fn serve(router: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    format!("http://{addr}/")
}

impl Env {
    pub async fn new() -> Env {
        let redis = RedisServer::start().expect("redis-server");
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        std::fs::create_dir_all(&source).unwrap();
        let base = serve(tomoe_archive::fileserver::router(source.clone())).await;
        Env {
            redis,
            dir,
            source,
            base,
        }
    }

    pub fn cfg(&self) -> ArchiveConfig {
        let d = self.dir.path();
        ArchiveConfig {
            redis_url: self.redis.url(),
            source_url: self.base.clone(),
            archive_root: d.join("archive"),
            obslog_root: d.join("obslog"),
            quarantine: d.join("quarantine"),
            state_dir: d.join("state"),
            blocklist_dir: d.join("blocklist"),
            previews_dir: d.join("previews"),
            concurrency: 8,
            stall_timeout_ms: 700,
            connect_timeout_ms: 1000,
            request_timeout_s: 30,
            max_attempts: 4,
            backoff_initial_ms: 50,
            backoff_max_ms: 400,
            reconcile_interval_s: 0,
            heartbeat_interval_s: 1,
            heartbeat_missed: 2,
            flush_interval_ms: 50,
            shutdown_grace_s: 5,
            ..Default::default()
        }
    }

    pub async fn publish(&self, channel: &str, msg: &str) {
        let client = redis::Client::open(self.redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let _: i64 = c.publish(channel, msg).await.unwrap();
    }
}

pub fn small_sim() -> StackSim {
    StackSim {
        width: 64,
        height: 32,
        stars_per_chip: 2000,
        ..Default::default()
    }
}

pub fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A full JSON notice for a file in the source directory.
pub fn notice(env: &Env, name: &str) -> String {
    let p = env.source.join(name);
    serde_json::json!({"type": "file", "path": name, "size": std::fs::metadata(&p).unwrap().len(), "sha256": sha256(&p)}).to_string()
}

pub struct Daemon {
    pub stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<Result<Status, tomoe_archive::daemon::ArchiveError>>,
    pub state_dir: PathBuf,
}

impl Daemon {
    pub async fn start(cfg: ArchiveConfig) -> Daemon {
        let (tx, rx) = oneshot::channel::<()>();
        let state_dir = cfg.state_dir.clone();
        let handle = tokio::spawn(tomoe_archive::run(cfg, async move {
            let _ = rx.await;
        }));
        let d = Daemon {
            stop: Some(tx),
            handle,
            state_dir,
        };
        d.wait(Duration::from_secs(10), "redis connected", |s| {
            s.redis_connected
        })
        .await;
        d
    }

    pub fn status(&self) -> Option<Status> {
        read_status(&self.state_dir).ok()
    }

    /// Waits until `pred` holds for the status file, or panics with the last status.
    pub async fn wait(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Status) -> bool,
    ) -> Status {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.status() {
                if pred(&s) {
                    return s;
                }
                if Instant::now() > deadline {
                    panic!("timed out waiting for {what}; status: {s:#?}");
                }
            } else if Instant::now() > deadline {
                panic!("timed out waiting for {what}; no status file");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) -> Status {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.await.unwrap().unwrap()
    }
}

/// (rows, distinct file names) in the log.
pub async fn log_counts(root: &Path) -> (i64, i64) {
    let log = ObsLog::open(root).unwrap();
    let q = ObsLogQuery::new(&log).await.unwrap();
    let (_, b) = q
        .sql("SELECT count(*) AS n, count(DISTINCT file_name) AS d FROM obslog")
        .await
        .unwrap();
    let n = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    let d = b[0]
        .column(1)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    (n, d)
}
