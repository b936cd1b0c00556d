//! Shared state of the web server: the log, the blocklist, the exposure index, the limiter.

use crate::config::{Net, WebConfig};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};
use tomoe_store::blocklist::{Blocklist, RuleSet};
use tomoe_store::exposures::{ExposureIndex, RefreshReport};
use tomoe_store::{ObsLog, StoreError};

/// Errors setting the server up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The configuration is wrong.
    #[error("[web] {0}")]
    Config(String),
    /// The log or blocklist cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocklist cannot be opened.
    #[error(transparent)]
    Blocklist(#[from] tomoe_store::blocklist::BlocklistError),
}

pub(crate) struct Indexed {
    pub index: ExposureIndex,
    pub rules: RuleSet,
    /// (exp_id, det_id) of the chip files the rules hide: the light-curve surfaces leave them out.
    pub hidden: Arc<HashSet<(i64, i32)>>,
    rules_version: Option<(SystemTime, u64)>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The server's state.
pub struct AppState {
    pub(crate) cfg: WebConfig,
    pub(crate) log: ObsLog,
    pub(crate) blocklist: Blocklist,
    pub(crate) indexed: RwLock<Indexed>,
    /// The light-curve database version last opened (reused while it is current).
    pub(crate) lc: Mutex<Option<tomoe_store::lcquery::LcRead>>,
    deny: Vec<Net>,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    refresh_lock: Mutex<()>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("cfg", &self.cfg).finish()
    }
}

impl AppState {
    /// Opens the log and blocklist and builds the index (blocking I/O).
    pub fn new(cfg: WebConfig) -> Result<AppState, SetupError> {
        let deny = cfg
            .deny
            .iter()
            .map(|s| Net::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(SetupError::Config)?;
        if !(cfg.rate_per_s > 0.0 && cfg.rate_burst >= 1.0) {
            return Err(SetupError::Config(
                "rate_per_s must be > 0 and rate_burst ≥ 1".into(),
            ));
        }
        if cfg.max_page_length == 0 {
            return Err(SetupError::Config("max_page_length must be ≥ 1".into()));
        }
        let log = ObsLog::open(&cfg.obslog_root)?;
        let blocklist = Blocklist::open(&cfg.blocklist_dir)?;
        let state = AppState {
            cfg,
            log,
            blocklist,
            indexed: RwLock::new(Indexed {
                index: ExposureIndex::new(),
                rules: RuleSet::default(),
                hidden: Arc::default(),
                rules_version: None,
            }),
            lc: Mutex::new(None),
            deny,
            buckets: Mutex::new(HashMap::new()),
            refresh_lock: Mutex::new(()),
        };
        state.refresh()?;
        Ok(state)
    }

    /// The configuration.
    pub fn config(&self) -> &WebConfig {
        &self.cfg
    }

    /// Re-reads changed nights and the blocklist (blocking I/O; one refresh at a time). The
    /// new index replaces the old one at once, so readers never see a half-built index.
    pub fn refresh(&self) -> Result<RefreshReport, SetupError> {
        let _one = self.refresh_lock.lock().unwrap_or_else(|e| e.into_inner());
        let version = self.blocklist.version();
        let (mut index, rules, changed, hidden) = {
            let g = self.indexed.read().unwrap_or_else(|e| e.into_inner());
            (
                g.index.clone(),
                g.rules.clone(),
                version != g.rules_version,
                g.hidden.clone(),
            )
        };
        let rules = if changed {
            self.blocklist.rule_set()?
        } else {
            rules
        };
        // Refresh the (cheap) clone; readers keep using the current index meanwhile.
        let report = index.refresh(&self.log, &rules, changed)?;
        let hidden = if changed || report.nights_read > 0 {
            Arc::new(index.hidden_chips())
        } else {
            hidden
        };
        let mut g = self.indexed.write().unwrap_or_else(|e| e.into_inner());
        *g = Indexed {
            index,
            rules,
            hidden,
            rules_version: version,
        };
        Ok(report)
    }

    /// The (exp_id, det_id) pairs the blocklist hides, as of the last refresh.
    pub(crate) fn hidden_chips(&self) -> Arc<HashSet<(i64, i32)>> {
        let g = self.indexed.read().unwrap_or_else(|e| e.into_inner());
        g.hidden.clone()
    }

    /// Opens the current light-curve version and caches its partitions' Parquet footers now
    /// (blocking; the server also does it in the background whenever a version is first opened).
    /// Returns the number of files, 0 when nothing is published.
    pub fn warm_lightcurves(&self) -> usize {
        self.lightcurves()
            .ok()
            .and_then(|(r, _)| r.warm().ok())
            .unwrap_or(0)
    }

    /// The light-curve version `current` points at: the one kept if it still is, else opened
    /// (and kept); `true` when it was opened now.
    pub(crate) fn lightcurves(
        &self,
    ) -> Result<(tomoe_store::lcquery::LcRead, bool), tomoe_store::lcquery::QueryError> {
        use tomoe_store::lcquery::LcRead;
        let version = LcRead::current_version(&self.cfg.lightcurves_root)?;
        let mut g = self.lc.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = g.as_ref().filter(|r| r.version() == version) {
            return Ok((r.clone(), false));
        }
        let r = LcRead::open_version(version)?;
        *g = Some(r.clone());
        Ok((r, true))
    }

    /// Is this client refused outright?
    pub(crate) fn denied(&self, ip: IpAddr) -> bool {
        self.deny.iter().any(|n| n.contains(ip))
    }

    /// Takes one token from the client's bucket; `false` when it is empty.
    pub(crate) fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() > 100_000 {
            // Forget idle clients (full buckets) so the map stays small.
            let burst = self.cfg.rate_burst;
            let rate = self.cfg.rate_per_s;
            b.retain(|_, v| v.tokens + now.duration_since(v.at).as_secs_f64() * rate < burst);
        }
        let e = b.entry(ip).or_insert(Bucket {
            tokens: self.cfg.rate_burst,
            at: now,
        });
        e.tokens = (e.tokens + now.duration_since(e.at).as_secs_f64() * self.cfg.rate_per_s)
            .min(self.cfg.rate_burst);
        e.at = now;
        if e.tokens >= 1.0 {
            e.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
