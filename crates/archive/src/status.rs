//! The daemon's status: counters, heartbeat tracking, health, and their Prometheus form.

use serde::{Deserialize, Serialize};

/// A snapshot of the daemon's state, written to `<state_dir>/status.json` every second and
/// served at `/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Process id of the daemon.
    pub pid: u32,
    /// When the daemon started (ISO UTC).
    pub started_at: String,
    /// When this snapshot was taken (ISO UTC).
    pub updated_at: String,
    /// Snapshot time as Unix seconds (to detect a stale file).
    pub updated_unix: f64,
    /// True when connected to Redis and the source is not silent.
    pub healthy: bool,
    /// Why not healthy.
    pub problems: Vec<String>,
    /// Connected to Redis now.
    pub redis_connected: bool,
    /// No heartbeat or message for longer than the configured limit.
    pub source_silent: bool,
    /// Seconds since the last heartbeat or message (`None` if none yet).
    pub seconds_since_heartbeat: Option<f64>,
    /// Counters since start.
    pub counts: Counts,
    /// Downloads in progress.
    pub in_flight: usize,
    /// Jobs waiting for a download slot.
    pub queued: usize,
    /// The last few failures (newest last).
    pub recent_failures: Vec<Failure>,
}

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// File notices received.
    pub notices: u64,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Messages refused as malformed.
    pub malformed: u64,
    /// Files archived and logged.
    pub archived: u64,
    /// Notices for files already archived or in flight (no-ops).
    pub duplicates: u64,
    /// Download retries.
    pub retries: u64,
    /// Files given up on (quarantined or not found).
    pub failed: u64,
    /// Of which quarantined with bytes.
    pub quarantined: u64,
    /// Files refused by a `no_fetch` blocklist rule (not archived, not logged).
    #[serde(default)]
    pub refused: u64,
    /// Preview PNGs made at ingest.
    #[serde(default)]
    pub previews: u64,
    /// Files found by reconciliation.
    pub reconciled: u64,
    /// Files recovered from the archive tree at start (archived but not logged).
    pub recovered: u64,
    /// Nights sealed.
    pub nights_sealed: u64,
    /// Bytes downloaded.
    pub bytes: u64,
}

/// One failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// File name.
    pub name: String,
    /// URL.
    pub url: String,
    /// Reason.
    pub reason: String,
    /// When (ISO UTC).
    pub at: String,
}

impl Status {
    /// Prometheus text exposition of the counters and gauges.
    pub fn prometheus(&self) -> String {
        let c = &self.counts;
        let mut s = String::new();
        let mut m = |name: &str, kind: &str, help: &str, v: f64| {
            s.push_str(&format!("# HELP tomoe_archive_{name} {help}\n# TYPE tomoe_archive_{name} {kind}\ntomoe_archive_{name} {v}\n"));
        };
        m(
            "notices_total",
            "counter",
            "File notices received.",
            c.notices as f64,
        );
        m(
            "heartbeats_total",
            "counter",
            "Heartbeats received.",
            c.heartbeats as f64,
        );
        m(
            "malformed_total",
            "counter",
            "Malformed messages refused.",
            c.malformed as f64,
        );
        m(
            "archived_total",
            "counter",
            "Files archived and logged.",
            c.archived as f64,
        );
        m(
            "duplicates_total",
            "counter",
            "Duplicate notices ignored.",
            c.duplicates as f64,
        );
        m(
            "retries_total",
            "counter",
            "Download retries.",
            c.retries as f64,
        );
        m(
            "failed_total",
            "counter",
            "Files given up on.",
            c.failed as f64,
        );
        m(
            "quarantined_total",
            "counter",
            "Files quarantined.",
            c.quarantined as f64,
        );
        m(
            "refused_total",
            "counter",
            "Files refused by a no-fetch blocklist rule.",
            c.refused as f64,
        );
        m(
            "previews_total",
            "counter",
            "Preview PNGs made at ingest.",
            c.previews as f64,
        );
        m(
            "reconciled_total",
            "counter",
            "Files found by reconciliation.",
            c.reconciled as f64,
        );
        m(
            "bytes_total",
            "counter",
            "Bytes downloaded.",
            c.bytes as f64,
        );
        m(
            "in_flight",
            "gauge",
            "Downloads in progress.",
            self.in_flight as f64,
        );
        m(
            "queued",
            "gauge",
            "Jobs waiting for a download slot.",
            self.queued as f64,
        );
        m(
            "healthy",
            "gauge",
            "1 when healthy.",
            f64::from(u8::from(self.healthy)),
        );
        m(
            "source_silent",
            "gauge",
            "1 when the sender is silent.",
            f64::from(u8::from(self.source_silent)),
        );
        s
    }
}
