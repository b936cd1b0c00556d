//! Configuration of `tomoe serve` (the `[web]` table of `tomoe.toml`).
//!
//! Every key has a default; unknown keys are refused. `TOMOE_WEB_ADMIN_TOKEN` (like every
//! `TOMOE_WEB_<KEY>`) overrides the file, so the token need not be written to disk.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[web]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address to listen on.
    pub listen: String,
    /// Where archived files live (`<root>/<year>/<night>/<file>`), as in `[archive]`.
    pub archive_root: PathBuf,
    /// The observation log, as in `[archive]`.
    pub obslog_root: PathBuf,
    /// The blocklist directory (rules and audit log), shared with the archive daemon.
    pub blocklist_dir: PathBuf,
    /// Preview and thumbnail PNGs (`<dir>/<year>/<night>/<file>.png`, `.thumb.png`).
    pub previews_dir: PathBuf,
    /// The light-curve database (`[lightcurve] root`): cone search, light curves, IVOA SCS.
    pub lightcurves_root: PathBuf,
    /// Bearer token of the admin API; empty disables the admin API.
    pub admin_token: String,
    /// Client addresses refused outright (`1.2.3.4`, `10.0.0.0/8`, `::1`).
    pub deny: Vec<String>,
    /// Requests per second allowed per client address (sustained).
    pub rate_per_s: f64,
    /// Burst of requests allowed per client address.
    pub rate_burst: f64,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How often the exposure index looks for new log files.
    pub refresh_interval_ms: u64,
    /// Largest page length the API accepts.
    pub max_page_length: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            archive_root: "data/archive".into(),
            obslog_root: "data/obslog".into(),
            blocklist_dir: "data/blocklist".into(),
            previews_dir: "data/previews".into(),
            lightcurves_root: "data/lightcurves".into(),
            admin_token: String::new(),
            deny: Vec::new(),
            rate_per_s: 50.0,
            rate_burst: 200.0,
            trust_forwarded_for: false,
            refresh_interval_ms: 2000,
            max_page_length: 1000,
        }
    }
}

/// A parsed `deny` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Net {
    /// Parses `addr` or `addr/prefix`.
    pub fn parse(s: &str) -> Result<Net, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("deny entry {s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("deny entry {s:?}: prefix must be 0–{max}"))?,
            None => max,
        };
        Ok(Net { addr, prefix })
    }

    /// Does the block contain `ip`?
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::*;
        let ip = match ip {
            V6(v) => v.to_ipv4_mapped().map(V4).unwrap_or(V6(v)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (V4(n), V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                (u32::from(n) & mask) == (u32::from(a) & mask)
            }
            (V6(n), V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                (u128::from(n) & mask) == (u128::from(a) & mask)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cidr_blocks() {
        let n = Net::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(Net::parse("1.2.3.4")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Net::parse("1.2.3.4/33").is_err());
        assert!(Net::parse("bogus").is_err());
        assert!(Net::parse("::1").unwrap().contains("::1".parse().unwrap()));
    }
}
