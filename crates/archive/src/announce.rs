//! `tomoe files announce`: the sending side of notifications.
//!
//! Polls a directory tree (every `poll_interval`), and announces each file once it is
//! complete: not hidden or temporary (`.x`, `*.tmp`, `*.part`), size and modification time
//! unchanged for `settle`, and — for FITS files — structurally complete (a file whose FITS
//! structure stays incomplete for a minute is announced anyway, so the receiver can quarantine
//! it). Each announcement is the JSON of [`crate::message`] with size and SHA-256, published on
//! the channel (and appended with `XADD <stream> * msg <json>` when a stream key is set). A
//! heartbeat goes out every `heartbeat_interval`. Announcements that fail to publish (Redis
//! down) are retried; nothing is marked announced until Redis accepted it.

use crate::fileserver::list_recursive;
use crate::message::WireMessage;
use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tomoe_core::UtcMicros;
use tracing::{debug, warn};
use url::Url;

/// Settings of the announcer.
#[derive(Debug, Clone)]
pub struct AnnounceConfig {
    /// Directory to watch (the file server's root).
    pub dir: PathBuf,
    /// Redis server.
    pub redis_url: String,
    /// Channel for file messages.
    pub channel: String,
    /// Channel for heartbeats.
    pub heartbeat_channel: String,
    /// Also XADD to this stream.
    pub stream_key: Option<String>,
    /// Base URL of the file server (adds `url` to messages).
    pub base_url: Option<Url>,
    /// Heartbeat period.
    pub heartbeat_interval: Duration,
    /// Poll period.
    pub poll_interval: Duration,
    /// Quiet time before a file counts as complete.
    pub settle: Duration,
    /// Announce files already present at start.
    pub announce_existing: bool,
    /// Announce what is there (after settling) and exit.
    pub once: bool,
}

impl AnnounceConfig {
    /// Defaults for a directory and Redis URL.
    pub fn new(dir: PathBuf, redis_url: &str) -> Self {
        Self {
            dir,
            redis_url: redis_url.to_string(),
            channel: "tomoe:files".into(),
            heartbeat_channel: "tomoe:files".into(),
            stream_key: None,
            base_url: None,
            heartbeat_interval: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
            settle: Duration::from_millis(500),
            announce_existing: false,
            once: false,
        }
    }
}

/// Errors that stop the announcer.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// The directory cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// Directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Bad Redis URL.
    #[error("Redis: {0}")]
    Redis(String),
}

/// What the announcer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnounceSummary {
    /// Files announced.
    pub files: u64,
    /// Heartbeats sent.
    pub heartbeats: u64,
}

/// Hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hex SHA-256 of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn is_fits(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".fits") || n.ends_with(".fit") || n.ends_with(".fts")
}

/// Builds the message for one file.
pub fn file_message(rel: &str, size: u64, sha256: &str, base: Option<&Url>) -> String {
    let w = WireMessage {
        kind: Some("file".into()),
        path: Some(rel.to_string()),
        url: base.and_then(|b| b.join(rel).ok()).map(|u| u.to_string()),
        size: Some(size),
        sha256: Some(sha256.to_string()),
        sent_at: Some(UtcMicros::now().to_iso()),
        host: None,
    };
    serde_json::to_string(&w).unwrap_or_default()
}

/// The heartbeat message.
pub fn heartbeat_message() -> String {
    let w = WireMessage {
        kind: Some("heartbeat".into()),
        sent_at: Some(UtcMicros::now().to_iso()),
        host: std::env::var("HOSTNAME").ok(),
        ..Default::default()
    };
    serde_json::to_string(&w).unwrap_or_default()
}

struct Seen {
    size: u64,
    mtime: String,
    since: Instant,
}

/// Runs the announcer until `shutdown` completes (or, with `once`, until every file present
/// has been announced).
pub async fn run_announcer(
    cfg: AnnounceConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<AnnounceSummary, AnnounceError> {
    let client = redis::Client::open(cfg.redis_url.as_str())
        .map_err(|e| AnnounceError::Redis(e.to_string()))?;
    let dir = cfg.dir.clone();
    let io = |source| AnnounceError::Io {
        path: dir.clone(),
        source,
    };
    let mut announced: HashSet<(String, u64, String)> = HashSet::new();
    if !cfg.announce_existing && !cfg.once {
        for e in list_recursive(&cfg.dir).map_err(io)?.files {
            announced.insert((e.path, e.size, e.mtime));
        }
    }
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut conn = None;
    let mut summary = AnnounceSummary::default();
    let mut next_beat = Instant::now();
    tokio::pin!(shutdown);
    loop {
        if conn.is_none() {
            match client.get_multiplexed_async_connection().await {
                Ok(c) => conn = Some(c),
                Err(e) => warn!(error = %e, "Redis connection failed; will retry"),
            }
        }
        if let Some(c) = conn.as_mut() {
            if Instant::now() >= next_beat {
                match c
                    .publish::<_, _, i64>(&cfg.heartbeat_channel, heartbeat_message())
                    .await
                {
                    Ok(_) => summary.heartbeats += 1,
                    Err(e) => {
                        warn!(error = %e, "heartbeat publish failed");
                        conn = None;
                    }
                }
                next_beat = Instant::now() + cfg.heartbeat_interval;
            }
        }
        let listing = list_recursive(&cfg.dir).map_err(io)?;
        let mut pending = 0;
        for e in listing.files {
            let key = (e.path.clone(), e.size, e.mtime.clone());
            if announced.contains(&key) {
                continue;
            }
            pending += 1;
            let s = seen.entry(e.path.clone()).or_insert(Seen {
                size: e.size,
                mtime: e.mtime.clone(),
                since: Instant::now(),
            });
            if s.size != e.size || s.mtime != e.mtime {
                *s = Seen {
                    size: e.size,
                    mtime: e.mtime.clone(),
                    since: Instant::now(),
                };
                continue;
            }
            let quiet = s.since.elapsed();
            if quiet < cfg.settle {
                continue;
            }
            let path = cfg.dir.join(&e.path);
            let name = e.path.rsplit('/').next().unwrap_or("").to_string();
            let p = path.clone();
            let check = tokio::task::spawn_blocking(move || {
                let complete = if is_fits(&name) {
                    match tomoe_fits::verify_file(&p) {
                        Ok(_) => Ok(true),
                        Err(err) if err.is_truncation() => Ok(false),
                        Err(_) => Ok(true),
                    }
                } else {
                    Ok(true)
                };
                complete.and_then(|c| {
                    if c {
                        sha256_file(&p).map(Some)
                    } else {
                        Ok(None)
                    }
                })
            })
            .await;
            let sha = match check {
                Ok(Ok(Some(sha))) => sha,
                Ok(Ok(None)) if quiet < Duration::from_secs(60) => continue,
                Ok(Ok(None)) => match sha256_file(&path) {
                    Ok(s) => s,
                    Err(_) => continue,
                },
                _ => continue,
            };
            let Some(c) = conn.as_mut() else { break };
            let msg = file_message(&e.path, e.size, &sha, cfg.base_url.as_ref());
            let mut ok = c.publish::<_, _, i64>(&cfg.channel, &msg).await.is_ok();
            if ok {
                if let Some(key) = &cfg.stream_key {
                    ok = c
                        .xadd::<_, _, _, _, String>(key, "*", &[("msg", msg.as_str())])
                        .await
                        .is_ok();
                }
            }
            if !ok {
                warn!(file = %e.path, "publish failed; will retry");
                conn = None;
                break;
            }
            debug!(file = %e.path, size = e.size, "announced");
            summary.files += 1;
            pending -= 1;
            seen.remove(&e.path);
            announced.insert(key);
        }
        if cfg.once && pending == 0 && conn.is_some() {
            return Ok(summary);
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(summary),
            _ = tokio::time::sleep(cfg.poll_interval) => {}
        }
    }
}
