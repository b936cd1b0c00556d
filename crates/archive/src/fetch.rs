//! HTTP download of one file with stall detection and Range resume.
//!
//! Bytes go to a partial file; a later attempt sends `Range: bytes=<have>-` and appends when
//! the server answers 206 (or starts over on 200). Each read must make progress within the
//! stall timeout. Errors say whether a retry can help ([`FetchError::retryable`]).

use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a download attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// 404 or 410: the server does not have the file.
    #[error("HTTP {0}: not on the server")]
    NotFound(u16),
    /// Another HTTP error status.
    #[error("HTTP {0}")]
    Status(u16),
    /// No bytes arrived for the stall timeout.
    #[error("stalled: no data for {0:?}")]
    Stalled(Duration),
    /// The attempt exceeded the request timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connection or protocol error (reset, truncated body, refused).
    #[error("network: {0}")]
    Network(String),
    /// The server sent a Content-Range that does not continue our partial file.
    #[error("server sent an inconsistent Content-Range: {0}")]
    BadRange(String),
    /// Local file error.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl FetchError {
    /// True when trying again may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            FetchError::NotFound(_) | FetchError::Io { .. } => false,
            FetchError::Status(s) => *s >= 500 || *s == 408 || *s == 429,
            _ => true,
        }
    }
}

/// What one successful attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// SHA-256 (hex) of the whole partial file after this attempt, computed while the bytes
    /// streamed in (the resumed prefix is hashed from disk first), so it needs no re-read.
    pub sha256: String,
    /// Bytes received in this attempt.
    pub received: u64,
    /// Bytes resumed from an earlier attempt.
    pub resumed_from: u64,
    /// Size of the partial file now.
    pub size: u64,
}

/// Downloads `url` into `part`, resuming from its current length, hashing the bytes with
/// SHA-256 as they arrive.
pub async fn fetch_to(
    client: &reqwest::Client,
    url: &url::Url,
    part: &Path,
    stall: Duration,
    total: Duration,
) -> Result<Fetched, FetchError> {
    fetch_with(client, url, part, stall, total, true).await
}

/// [`fetch_to`] with hashing optional (`hash = false` leaves [`Fetched::sha256`] empty; the
/// benchmark uses it to separate transfer speed from hashing cost).
pub async fn fetch_with(
    client: &reqwest::Client,
    url: &url::Url,
    part: &Path,
    stall: Duration,
    total: Duration,
    hash: bool,
) -> Result<Fetched, FetchError> {
    match tokio::time::timeout(total, fetch_inner(client, url, part, stall, hash)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(total)),
    }
}

async fn fetch_inner(
    client: &reqwest::Client,
    url: &url::Url,
    part: &Path,
    stall: Duration,
    hash: bool,
) -> Result<Fetched, FetchError> {
    let io = |source| FetchError::Io {
        path: part.display().to_string(),
        source,
    };
    let have = match tokio::fs::metadata(part).await {
        Ok(m) => m.len(),
        Err(_) => 0,
    };
    let mut req = client.get(url.clone());
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut resp = match tokio::time::timeout(stall, req.send()).await {
        Err(_) => return Err(FetchError::Stalled(stall)),
        Ok(Err(e)) => return Err(FetchError::Network(error_chain(&e))),
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    let (mut file, resumed_from) = match status {
        206 => {
            let cr = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let start = cr
                .strip_prefix("bytes ")
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.parse::<u64>().ok());
            if start != Some(have) {
                let _ = tokio::fs::remove_file(part).await;
                return Err(FetchError::BadRange(cr));
            }
            (
                tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(part)
                    .await
                    .map_err(io)?,
                have,
            )
        }
        200 => (tokio::fs::File::create(part).await.map_err(io)?, 0),
        416 if have > 0 => {
            let sha256 = hash_prefix(part, have).await.map_err(io)?;
            return Ok(Fetched {
                sha256: hex::encode(sha256.finalize()),
                received: 0,
                resumed_from: have,
                size: have,
            });
        }
        404 | 410 => return Err(FetchError::NotFound(status)),
        s => return Err(FetchError::Status(s)),
    };
    let mut hasher = if hash && resumed_from > 0 {
        Some(hash_prefix(part, resumed_from).await.map_err(io)?)
    } else {
        hash.then(Sha256::new)
    };
    let mut received = 0u64;
    loop {
        match tokio::time::timeout(stall, resp.chunk()).await {
            Err(_) => {
                file.flush().await.map_err(io)?;
                return Err(FetchError::Stalled(stall));
            }
            Ok(Err(e)) => {
                file.flush().await.map_err(io)?;
                return Err(FetchError::Network(error_chain(&e)));
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(bytes))) => {
                if let Some(h) = hasher.as_mut() {
                    h.update(&bytes);
                }
                file.write_all(&bytes).await.map_err(io)?;
                received += bytes.len() as u64;
            }
        }
    }
    file.flush().await.map_err(io)?;
    file.sync_data().await.map_err(io)?;
    let sha256 = hasher
        .map(|h| hex::encode(h.finalize()))
        .unwrap_or_default();
    Ok(Fetched {
        sha256,
        received,
        resumed_from,
        size: resumed_from + received,
    })
}

/// SHA-256 state after the first `len` bytes of `path`.
async fn hash_prefix(path: &Path, len: u64) -> std::io::Result<Sha256> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = f.read(&mut buf[..left.min(1 << 20) as usize]).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(h)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
