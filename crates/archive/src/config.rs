//! Configuration of the archive daemon (the `[archive]` table of `tomoe.toml`).
//!
//! Every key has a default; unknown keys are refused. Durations are in the unit their name
//! says.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How notices reach the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Redis pub/sub (what the observatory sends). Messages sent while the daemon is away
    /// are lost by Redis; reconciliation recovers the files.
    Pubsub,
    /// A Redis stream read with a consumer group (XREADGROUP + XACK): nothing is lost while
    /// the daemon is away, if the sender can XADD.
    Stream,
}

/// `[archive]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Redis server.
    pub redis_url: String,
    /// Pub/sub channel of file notices.
    pub channel: String,
    /// Channel of heartbeats (may equal `channel`).
    pub heartbeat_channel: String,
    /// `pubsub` or `stream`.
    pub transport: Transport,
    /// Stream key when `transport = "stream"`.
    pub stream_key: String,
    /// Consumer group name.
    pub stream_group: String,
    /// Consumer name within the group.
    pub stream_consumer: String,
    /// File server root URL: bare paths in notices are resolved against it, and its JSON
    /// listing is reconciled. Empty disables both.
    pub source_url: String,
    /// Where archived files live (`<root>/<year>/<night>/<file>`).
    pub archive_root: PathBuf,
    /// The observation log directory.
    pub obslog_root: PathBuf,
    /// Failed files and their reasons.
    pub quarantine: PathBuf,
    /// Status file and other state.
    pub state_dir: PathBuf,
    /// The blocklist directory shared with `tomoe serve`: files matching a `no_fetch` rule are
    /// refused (by Frame ID or EXP_ID before download, by any rule once the header is read).
    pub blocklist_dir: PathBuf,
    /// Where preview and thumbnail PNGs are made at ingest; empty disables them.
    pub previews_dir: PathBuf,
    /// Parallel downloads.
    pub concurrency: usize,
    /// TCP connect timeout.
    pub connect_timeout_ms: u64,
    /// A download that receives nothing for this long is abandoned and retried (resumed).
    pub stall_timeout_ms: u64,
    /// Upper bound on one download attempt.
    pub request_timeout_s: u64,
    /// Attempts per file before giving up.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt.
    pub backoff_initial_ms: u64,
    /// Largest retry delay.
    pub backoff_max_ms: u64,
    /// Reconcile against the file server's listing this often (0 = only at start).
    pub reconcile_interval_s: u64,
    /// Expected heartbeat period of the sender.
    pub heartbeat_interval_s: u64,
    /// Beats missed before the source is reported silent.
    pub heartbeat_missed: u32,
    /// Log rows are written at least this often while files arrive.
    pub flush_interval_ms: u64,
    /// … or when this many rows are pending.
    pub flush_rows: usize,
    /// Seal a night this many hours after it ended (local noon). Negative disables.
    pub seal_after_hours: f64,
    /// Address of the status server (`/healthz`, `/metrics`, `/status`); empty disables.
    pub status_listen: String,
    /// On shutdown, wait this long for in-flight downloads before abandoning them.
    pub shutdown_grace_s: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            redis_url: "redis://127.0.0.1:6379/".into(),
            channel: "tomoe:files".into(),
            heartbeat_channel: "tomoe:files".into(),
            transport: Transport::Pubsub,
            stream_key: "tomoe:files:stream".into(),
            stream_group: "archive".into(),
            stream_consumer: "archive-1".into(),
            source_url: "http://127.0.0.1:8081/".into(),
            archive_root: "data/archive".into(),
            obslog_root: "data/obslog".into(),
            quarantine: "data/quarantine".into(),
            state_dir: "data/state".into(),
            blocklist_dir: "data/blocklist".into(),
            previews_dir: "data/previews".into(),
            concurrency: 8,
            connect_timeout_ms: 3000,
            stall_timeout_ms: 5000,
            request_timeout_s: 300,
            max_attempts: 5,
            backoff_initial_ms: 200,
            backoff_max_ms: 10_000,
            reconcile_interval_s: 60,
            heartbeat_interval_s: 5,
            heartbeat_missed: 3,
            flush_interval_ms: 100,
            flush_rows: 512,
            seal_after_hours: 1.0,
            status_listen: String::new(),
            shutdown_grace_s: 30,
        }
    }
}

impl ArchiveConfig {
    /// Checks value ranges, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |v: u64, k: &str| {
            if v == 0 {
                Err(format!("archive.{k} must be > 0"))
            } else {
                Ok(())
            }
        };
        pos(self.concurrency as u64, "concurrency")?;
        pos(u64::from(self.max_attempts), "max_attempts")?;
        pos(self.stall_timeout_ms, "stall_timeout_ms")?;
        pos(self.connect_timeout_ms, "connect_timeout_ms")?;
        pos(self.heartbeat_interval_s, "heartbeat_interval_s")?;
        pos(u64::from(self.heartbeat_missed), "heartbeat_missed")?;
        pos(self.flush_rows as u64, "flush_rows")?;
        if !self.source_url.is_empty() {
            let u = url::Url::parse(&self.source_url)
                .map_err(|e| format!("archive.source_url {:?}: {e}", self.source_url))?;
            if !u.path().ends_with('/') {
                return Err(format!(
                    "archive.source_url {:?} must end with '/'",
                    self.source_url
                ));
            }
        }
        Ok(())
    }

    /// Silence after which the source is reported silent.
    pub fn silence_limit(&self) -> Duration {
        Duration::from_secs(self.heartbeat_interval_s * u64::from(self.heartbeat_missed))
    }
}
