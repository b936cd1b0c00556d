//! `tomoe lc run`: the resident light-curve service.
//!
//! It listens to the same Redis notices as the archive (pub/sub channel, or the stream read
//! without a consumer group so the archive's deliveries are untouched); a notice only wakes it.
//! What to ingest is decided from the observation log, the single source of truth: once notices
//! have settled (`settle`, default 10 s) — and every `reconcile` interval in any case, which
//! also covers notices lost while Redis was away — every night whose set of archived cubes
//! differs from what its last ingest used is (re-)ingested. A night's ingest is atomic and
//! idempotent, so re-running it as a night grows is safe. A failing night is logged and retried
//! at the next reconcile; the service never dies of one bad input. When the archive's blocklist
//! hides other chips than the published version's statistics left out, it republishes. On
//! shutdown it finishes the
//! ingest in progress (the night is either fully replaced or untouched) and returns.

use crate::config::LightcurveConfig;
use crate::db::LcDb;
use crate::gaia::GaiaStore;
use crate::ingest::{ingest_night, Input};
use futures::StreamExt;
use redis::AsyncCommands;
use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tomoe_core::time::CivilDate;
use tomoe_store::arrow::array::{Array, AsArray};
use tomoe_store::ObsLog;
use tracing::{info, warn};

/// Where the service listens and reads.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Redis URL.
    pub redis_url: String,
    /// Pub/sub channel of file notices (used when `stream_key` is `None`).
    pub channel: String,
    /// Stream key of file notices (stream transport).
    pub stream_key: Option<String>,
    /// The observation log.
    pub obslog_root: PathBuf,
    /// The archive (paths in the log are relative to it).
    pub archive_root: PathBuf,
    /// Quiet time after the last notice before ingesting.
    pub settle: Duration,
    /// Reconcile with the log at least this often.
    pub reconcile: Duration,
    /// The archive's blocklist: measurements of the chips it hides are left out of the objects'
    /// statistics, and the database is republished when that set changes.
    pub blocklist_dir: Option<PathBuf>,
}

/// The (exp_id, det_id) of the chip files the blocklist in `blocklist_dir` hides, from the
/// observation log (empty without rules).
pub fn hidden_chips(
    log: &ObsLog,
    blocklist_dir: Option<&Path>,
) -> Result<std::collections::HashSet<(i64, i32)>, String> {
    // No rules file: no rules (and no directory created as a side effect).
    let Some(dir) = blocklist_dir.filter(|d| d.join("rules.json").exists()) else {
        return Ok(Default::default());
    };
    let rules = tomoe_store::blocklist::Blocklist::open(dir)
        .and_then(|b| b.rule_set())
        .map_err(|e| e.to_string())?;
    if rules.is_empty() {
        return Ok(Default::default());
    }
    let mut index = tomoe_store::exposures::ExposureIndex::new();
    index
        .refresh(log, &rules, true)
        .map_err(|e| e.to_string())?;
    Ok(index.hidden_chips())
}

/// The cubes (`FMTTYPE = TOMOE-IMAGE-CUBE`) archived for `night`, sorted.
pub fn night_cubes(
    log: &ObsLog,
    archive_root: &Path,
    night: CivilDate,
) -> Result<Vec<PathBuf>, String> {
    let mut out = BTreeSet::new();
    for f in log.night_files(night).map_err(|e| e.to_string())? {
        let batches = tomoe_store::obslog::read_parquet(&f, Some(&["fmttype", "path"]))
            .map_err(|e| e.to_string())?;
        for b in &batches {
            let (t, p) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                if t.is_valid(i) && t.value(i).trim() == "TOMOE-IMAGE-CUBE" {
                    out.insert(archive_root.join(p.value(i)));
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Ingests every night of the log whose cubes differ from its last ingest; returns the nights
/// ingested. Errors of one night are logged and do not stop the others.
pub fn reconcile(svc: &ServiceConfig, cfg: &LightcurveConfig) -> Vec<CivilDate> {
    let db = LcDb::new(&cfg.root);
    let log = match ObsLog::open(&svc.obslog_root) {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "observation log unreadable");
            return Vec::new();
        }
    };
    let hidden = match hidden_chips(&log, svc.blocklist_dir.as_deref()) {
        Ok(h) => Arc::new(h),
        Err(e) => {
            warn!(error = %e, "blocklist unreadable; retrying at the next reconcile");
            return Vec::new();
        }
    };
    let db = db.with_hidden(hidden.clone());
    let nights = log.night_dates().unwrap_or_default();
    let gaia = GaiaStore::open(&cfg.gaia).ok();
    if gaia.is_none() {
        warn!(gaia = %cfg.gaia.display(), "no Gaia store: sources will not be matched or calibrated (tomoe gaia import)");
    }
    let mut done = Vec::new();
    for night in nights {
        let cubes = match night_cubes(&log, &svc.archive_root, night) {
            Ok(c) => c,
            Err(e) => {
                warn!(%night, error = %e, "cannot list the night's cubes");
                continue;
            }
        };
        if cubes.is_empty() {
            continue;
        }
        let have: BTreeSet<PathBuf> = db
            .night_inputs(night)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let want: BTreeSet<PathBuf> = cubes.iter().cloned().collect();
        if have == want {
            continue;
        }
        let inputs: Vec<Input> = cubes.into_iter().map(Input::Cube).collect();
        match ingest_night(&db, night, &inputs, gaia.as_ref(), cfg, &|_, _| {}) {
            Ok(r) => {
                for (p, why) in &r.refused {
                    warn!(%night, file = %p.display(), reason = %why, "input refused");
                }
                info!(%night, cubes = r.inputs, detections = r.detections, objects = r.published.objects, "night ingested");
                done.push(night);
            }
            Err(e) => warn!(%night, error = %e, "night not ingested; will retry"),
        }
    }
    // The blocklist changed since the last publish: the objects' statistics follow it.
    if done.is_empty() && db.current().is_some() && db.published_hidden() != *hidden {
        match db.republish(cfg.partition_rows, cfg.object_radius_arcsec) {
            Ok(r) => info!(
                hidden_chips = hidden.len(),
                objects = r.objects,
                "republished after a blocklist change"
            ),
            Err(e) => warn!(error = %e, "republishing failed; will retry"),
        }
    }
    done
}

fn is_heartbeat(payload: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("type")
                .and_then(|t| t.as_str())
                .map(|t| t == "heartbeat")
        })
        .unwrap_or(false)
}

async fn listen(svc: ServiceConfig, wake: Arc<tokio::sync::Notify>) {
    let mut delay = Duration::from_millis(200);
    loop {
        let client = match redis::Client::open(svc.redis_url.as_str()) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, url = %svc.redis_url, "invalid Redis URL; relying on periodic reconcile");
                return;
            }
        };
        let r: Result<(), redis::RedisError> = async {
            match &svc.stream_key {
                None => {
                    let mut ps = client.get_async_pubsub().await?;
                    ps.subscribe(&svc.channel).await?;
                    info!(channel = %svc.channel, "listening for notices");
                    wake.notify_one();
                    let mut s = ps.on_message();
                    while let Some(m) = s.next().await {
                        let p = String::from_utf8_lossy(m.get_payload_bytes()).to_string();
                        if !is_heartbeat(&p) {
                            wake.notify_one();
                        }
                    }
                    Ok(())
                }
                Some(key) => {
                    let cfgc = redis::AsyncConnectionConfig::new().set_response_timeout(None);
                    let mut c = client
                        .get_multiplexed_async_connection_with_config(&cfgc)
                        .await?;
                    info!(stream = %key, "listening for notices");
                    let mut last = "$".to_string();
                    loop {
                        let opts = redis::streams::StreamReadOptions::default()
                            .block(5000)
                            .count(100);
                        let r: redis::streams::StreamReadReply = c
                            .xread_options(&[key.as_str()], &[last.as_str()], &opts)
                            .await?;
                        for k in r.keys {
                            for id in k.ids {
                                last = id.id.clone();
                                wake.notify_one();
                            }
                        }
                    }
                }
            }
        }
        .await;
        if let Err(e) = r {
            warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Redis unavailable");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Runs until `shutdown` resolves.
pub async fn run(
    svc: ServiceConfig,
    cfg: LightcurveConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    cfg.validate().map_err(|e| format!("configuration: {e}"))?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let listener = tokio::spawn(listen(svc.clone(), wake.clone()));
    tokio::pin!(shutdown);
    let mut pending = true; // reconcile once at start
    let mut last_wake = Instant::now() - svc.settle;
    let mut last_reconcile = Instant::now();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = wake.notified() => { pending = true; last_wake = Instant::now(); continue; }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let due = (pending && last_wake.elapsed() >= svc.settle)
            || last_reconcile.elapsed() >= svc.reconcile;
        if !due {
            continue;
        }
        pending = false;
        last_reconcile = Instant::now();
        let (s, c) = (svc.clone(), cfg.clone());
        // Finishes even if shutdown arrives meanwhile: a night is replaced whole or not at all.
        match tokio::task::spawn_blocking(move || reconcile(&s, &c)).await {
            Ok(n) if !n.is_empty() => info!(nights = n.len(), "reconciled"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "reconcile task failed"),
        }
    }
    listener.abort();
    info!("light-curve service stopped");
    Ok(())
}
