//! The archive daemon (`tomoe archive run`). See the crate docs for the data flow.
//!
//! Exactly-once logging rests on three facts: (1) a file is logged only after it sits, verified,
//! under its final name in the archive tree; (2) the file name (which carries the Frame ID) is
//! the key, checked against the log before any download and again before placing; (3) on start,
//! recent night directories of the archive tree are compared with the log and anything archived
//! but not logged (a crash between rename and log write) is logged then. Pub/sub loses
//! messages while the daemon is away; reconciliation with the file server's listing (on start,
//! after every Redis reconnect, and periodically) recovers those files.

use crate::announce::sha256_file;
use crate::config::{ArchiveConfig, Transport};
use crate::fetch::{fetch_to, FetchError};
use crate::fileserver::{is_hidden, Listing};
use crate::message::{parse_message, Message, Notice};
use crate::status::{Counts, Failure, Status};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tomoe_core::time::{CivilDate, UtcMicros};
use tomoe_fits::structure::{verify_file, FitsLayout};
use tomoe_fits::FrameId;
use tomoe_store::blocklist::{Blocklist, FileFacts, RuleSet};
use tomoe_store::{ObsLog, ObsRow, StoreError};
use tracing::{debug, error, info, warn};
use url::Url;

/// Errors that stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Invalid configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// Storage could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Where a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Notice,
    Reconcile,
}

struct Job {
    notice: Notice,
    origin: Origin,
    /// Signalled when the job is finished (stream mode acknowledges then).
    done: Option<oneshot::Sender<()>>,
}

struct WriteReq {
    row: ObsRow,
    ack: oneshot::Sender<Result<(), String>>,
}

/// Terminal failure of one file.
struct Terminal {
    reason: String,
    bytes: Option<PathBuf>,
}

#[derive(Default)]
struct LoggedIndex {
    names: HashMap<CivilDate, HashSet<String>>,
    loaded: HashSet<CivilDate>,
    all_loaded: bool,
}

struct Daemon {
    cfg: ArchiveConfig,
    base: Option<Url>,
    client: reqwest::Client,
    log: ObsLog,
    index: Arc<tokio::sync::Mutex<LoggedIndex>>,
    inflight: Mutex<HashSet<String>>,
    failed: Mutex<HashMap<String, Option<u64>>>,
    counts: Arc<Mutex<Counts>>,
    failures: Mutex<Vec<Failure>>,
    last_beat: Mutex<Option<Instant>>,
    started: Instant,
    started_at: UtcMicros,
    redis_connected: AtomicBool,
    queued: AtomicUsize,
    reconcile_now: Notify,
    writer: mpsc::Sender<WriteReq>,
    blocklist: Option<Blocklist>,
    /// The rules file's version and the compiled rules.
    rules: Mutex<(Option<(std::time::SystemTime, u64)>, RuleSet)>,
    /// Files refused by a no-fetch rule since start (not fetched again by reconciliation).
    refused: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the daemon until `shutdown` completes; returns the final status.
pub async fn run(
    cfg: ArchiveConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Status, ArchiveError> {
    cfg.validate().map_err(ArchiveError::Config)?;
    for dir in [
        &cfg.archive_root,
        &cfg.quarantine,
        &cfg.state_dir,
        &cfg.archive_root.join(".incoming"),
    ] {
        std::fs::create_dir_all(dir).map_err(|source| ArchiveError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let log = ObsLog::open(&cfg.obslog_root)?;
    let base = if cfg.source_url.is_empty() {
        None
    } else {
        Url::parse(&cfg.source_url).ok()
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
        .read_timeout(Duration::from_millis(cfg.stall_timeout_ms))
        .pool_max_idle_per_host(cfg.concurrency)
        .build()
        .map_err(|e| ArchiveError::Config(format!("HTTP client: {e}")))?;
    let (wtx, wrx) = mpsc::channel::<WriteReq>(4096);
    let d = Arc::new(Daemon {
        base,
        client,
        log: log.clone(),
        index: Arc::new(tokio::sync::Mutex::new(LoggedIndex::default())),
        inflight: Mutex::new(HashSet::new()),
        failed: Mutex::new(HashMap::new()),
        counts: Arc::new(Mutex::new(Counts::default())),
        failures: Mutex::new(Vec::new()),
        last_beat: Mutex::new(None),
        started: Instant::now(),
        started_at: UtcMicros::now(),
        redis_connected: AtomicBool::new(false),
        queued: AtomicUsize::new(0),
        reconcile_now: Notify::new(),
        writer: wtx,
        blocklist: match Blocklist::open(&cfg.blocklist_dir) {
            Ok(b) => Some(b),
            Err(e) => {
                warn!(error = %e, "blocklist unavailable: no-fetch rules are not applied");
                None
            }
        },
        rules: Mutex::new((None, RuleSet::default())),
        refused: Mutex::new(HashSet::new()),
        cfg,
    });
    let cancel = CancellationToken::new();
    {
        let c = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            c.cancel();
        });
    }
    let writer = tokio::spawn(writer_task(
        d.log.clone(),
        d.cfg.clone(),
        d.index.clone(),
        d.counts.clone(),
        wrx,
    ));
    info!(archive = %d.cfg.archive_root.display(), obslog = %d.cfg.obslog_root.display(), transport = ?d.cfg.transport, "archive daemon starting");

    // Archived-but-not-logged files from a crash.
    if let Err(e) = d.clone().recover().await {
        warn!(error = %e, "recovery scan failed");
    }

    let (jtx, mut jrx) = mpsc::unbounded_channel::<Job>();
    let mut services = JoinSet::new();
    services.spawn(status_task(d.clone(), cancel.clone()));
    if !d.cfg.status_listen.is_empty() {
        services.spawn(status_server(d.clone(), cancel.clone()));
    }
    match d.cfg.transport {
        Transport::Pubsub => services.spawn(pubsub_task(d.clone(), jtx.clone(), cancel.clone())),
        Transport::Stream => services.spawn(stream_task(d.clone(), jtx.clone(), cancel.clone())),
    };
    if d.base.is_some() {
        services.spawn(reconcile_task(d.clone(), jtx.clone(), cancel.clone()));
    }
    drop(jtx);

    let sem = Arc::new(Semaphore::new(d.cfg.concurrency));
    let mut workers = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            job = jrx.recv() => {
                let Some(job) = job else { break };
                let (d2, sem2) = (d.clone(), sem.clone());
                d.queued.fetch_add(1, Ordering::Relaxed);
                workers.spawn(async move {
                    let permit = sem2.acquire_owned().await.ok();
                    d2.queued.fetch_sub(1, Ordering::Relaxed);
                    d2.process(job, permit).await;
                });
            }
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
        }
    }
    info!(
        in_flight = workers.len(),
        "shutting down: waiting for in-flight files"
    );
    let grace = Duration::from_secs(d.cfg.shutdown_grace_s);
    let drained = tokio::time::timeout(grace, async {
        while workers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            abandoned = workers.len(),
            "grace period over: abandoning downloads (partial files are kept for resume)"
        );
        workers.abort_all();
        while workers.join_next().await.is_some() {}
    }
    services.abort_all();
    while services.join_next().await.is_some() {}
    let state_dir = d.cfg.state_dir.clone();
    let snapshot = d.snapshot();
    let counts = d.counts.clone();
    // The writer exits (after a last flush) when the daemon, which owns its sender, is dropped.
    drop(d);
    let _ = writer.await;
    let status = Status {
        healthy: false,
        problems: vec!["stopped".into()],
        counts: lock(&counts).clone(),
        ..snapshot
    };
    write_status(&status, &state_dir).ok();
    info!(
        archived = status.counts.archived,
        failed = status.counts.failed,
        "archive daemon stopped"
    );
    Ok(status)
}

impl Daemon {
    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut lock(&self.counts));
    }

    fn beat(&self) {
        *lock(&self.last_beat) = Some(Instant::now());
    }

    fn snapshot(&self) -> Status {
        let since = lock(&self.last_beat).map(|t| t.elapsed().as_secs_f64());
        let quiet_for = since.unwrap_or_else(|| self.started.elapsed().as_secs_f64());
        let source_silent = quiet_for > self.cfg.silence_limit().as_secs_f64();
        let redis_connected = self.redis_connected.load(Ordering::Relaxed);
        let mut problems = Vec::new();
        if !redis_connected {
            problems.push(format!("not connected to Redis at {}", self.cfg.redis_url));
        }
        if source_silent {
            problems.push(format!(
                "source silent: no heartbeat for {quiet_for:.0} s (limit {} s)",
                self.cfg.silence_limit().as_secs()
            ));
        }
        let now = UtcMicros::now();
        Status {
            pid: std::process::id(),
            started_at: self.started_at.to_iso(),
            updated_at: now.to_iso(),
            updated_unix: now.unix_seconds(),
            healthy: problems.is_empty(),
            problems,
            redis_connected,
            source_silent,
            seconds_since_heartbeat: since,
            counts: lock(&self.counts).clone(),
            in_flight: lock(&self.inflight).len(),
            queued: self.queued.load(Ordering::Relaxed),
            recent_failures: lock(&self.failures).clone(),
        }
    }

    /// True when `name` is in the observation log.
    async fn is_logged(&self, name: &str) -> Result<bool, StoreError> {
        let mut idx = self.index.lock().await;
        let nights: Vec<CivilDate> = match FrameId::find_in(name) {
            // The Frame ID date is the UTC (or local) date; the night is that date or the day before.
            Some(id) => vec![id.date.pred(), id.date],
            None => {
                if !idx.all_loaded {
                    let log = self.log.clone();
                    let all = tokio::task::spawn_blocking(move || log.nights())
                        .await
                        .map_err(|e| StoreError::Invalid(e.to_string()))??;
                    for n in all {
                        load_night(&self.log, &mut idx, n.night).await?;
                    }
                    idx.all_loaded = true;
                }
                return Ok(idx.names.values().any(|s| s.contains(name)));
            }
        };
        for n in nights {
            load_night(&self.log, &mut idx, n).await?;
            if idx.names.get(&n).is_some_and(|s| s.contains(name)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The current blocklist rules (re-read when the rules file changed).
    fn rules(&self) -> RuleSet {
        let Some(b) = &self.blocklist else {
            return RuleSet::default();
        };
        let v = b.version();
        let mut g = lock(&self.rules);
        if g.0 != v {
            match b.rule_set() {
                Ok(r) => *g = (v, r),
                Err(e) => {
                    warn!(error = %e, "cannot read the blocklist; keeping the previous rules")
                }
            }
        }
        g.1.clone()
    }

    /// Refuses a file matched by a `no_fetch` rule: counted, remembered, never logged.
    fn refuse(&self, name: &str, rule: &tomoe_store::blocklist::Rule) {
        info!(file = %name, rule = rule.id, reason = %rule.reason, "refused by the blocklist (no_fetch)");
        lock(&self.refused).insert(name.to_string());
        self.count(|c| c.refused += 1);
    }

    /// Handles one job. `permit` is a download slot: it is released as soon as the file is
    /// placed, before waiting for the batched log write, so slow log flushes do not throttle
    /// downloads.
    async fn process(
        self: &Arc<Self>,
        job: Job,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        let name = job.notice.name.clone();
        if lock(&self.refused).contains(&name) {
            return finish(job);
        }
        // Frame ID and EXP_ID rules can refuse from the file name alone, before downloading.
        if let Some(fid) = tomoe_fits::FrameId::find_in(&name) {
            let id = fid.to_string();
            let facts = FileFacts {
                frame_id: Some(&id),
                exp_id: Some(fid.exp_id as i64),
                ..Default::default()
            };
            if let Some(rule) = self.rules().refusing(&facts) {
                self.refuse(&name, rule);
                return finish(job);
            }
        }
        match self.is_logged(&name).await {
            Ok(true) => {
                debug!(file = %name, origin = ?job.origin, "already archived: no-op");
                self.count(|c| c.duplicates += 1);
                return finish(job);
            }
            Ok(false) => {}
            Err(e) => warn!(file = %name, error = %e, "could not read the log; fetching anyway"),
        }
        if !lock(&self.inflight).insert(name.clone()) {
            self.count(|c| c.duplicates += 1);
            return finish(job);
        }
        let result = self.archive_one(&job.notice, permit).await;
        match result {
            Ok(()) => {
                lock(&self.failed).remove(&name);
            }
            Err(t) => self.quarantine(&job.notice, t).await,
        }
        lock(&self.inflight).remove(&name);
        finish(job);
    }

    fn part_path(&self, name: &str) -> PathBuf {
        self.cfg
            .archive_root
            .join(".incoming")
            .join(format!("{name}.part"))
    }

    async fn archive_one(
        self: &Arc<Self>,
        n: &Notice,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<(), Terminal> {
        let part = self.part_path(&n.name);
        let stall = Duration::from_millis(self.cfg.stall_timeout_ms);
        let total = Duration::from_secs(self.cfg.request_timeout_s);
        let mut delay = Duration::from_millis(self.cfg.backoff_initial_ms);
        let mut attempt = 0;
        let verified = loop {
            attempt += 1;
            let last = attempt >= self.cfg.max_attempts;
            let retry_reason = match fetch_to(&self.client, &n.url, &part, stall, total).await {
                Ok(f) => {
                    self.count(|c| c.bytes += f.received);
                    let (p, size, sha, streamed) =
                        (part.clone(), n.size, n.sha256.clone(), f.sha256.clone());
                    match tokio::task::spawn_blocking(move || {
                        verify(&p, size, sha.as_deref(), Some(streamed))
                    })
                    .await
                    {
                        Ok(Ok(v)) => break v,
                        Ok(Err(VerifyError::Retry(reason, keep))) => {
                            if !keep {
                                let _ = std::fs::remove_file(&part);
                            }
                            reason
                        }
                        Ok(Err(VerifyError::Bad(reason))) => {
                            return Err(Terminal {
                                reason,
                                bytes: Some(part),
                            })
                        }
                        Err(e) => {
                            return Err(Terminal {
                                reason: format!("verification crashed: {e}"),
                                bytes: Some(part),
                            })
                        }
                    }
                }
                Err(FetchError::NotFound(s)) => {
                    let _ = std::fs::remove_file(&part);
                    return Err(Terminal {
                        reason: format!("HTTP {s}: not on the server ({})", n.url),
                        bytes: None,
                    });
                }
                Err(e) if e.retryable() => e.to_string(),
                Err(e) => {
                    return Err(Terminal {
                        reason: e.to_string(),
                        bytes: part.exists().then_some(part),
                    })
                }
            };
            if last {
                return Err(Terminal {
                    reason: format!("gave up after {attempt} attempts: {retry_reason}"),
                    bytes: part.exists().then_some(part),
                });
            }
            self.count(|c| c.retries += 1);
            warn!(file = %n.name, attempt, error = %retry_reason, delay_ms = delay.as_millis() as u64, "retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(self.cfg.backoff_max_ms));
        };
        self.place_and_log(n, &part, verified, permit).await
    }

    async fn place_and_log(
        self: &Arc<Self>,
        n: &Notice,
        part: &Path,
        v: Verified,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<(), Terminal> {
        let row0 = ObsRow::new(
            &v.layout.primary,
            &n.name,
            "",
            v.layout.size,
            &v.sha256,
            Some(n.url.to_string()),
            UtcMicros::now(),
        );
        // Any no-fetch rule, now that the header is known.
        let facts_id = row0.header.frame_id.map(|f| f.to_string());
        let facts = FileFacts {
            frame_id: facts_id.as_deref(),
            exp_id: row0.header.exp_id.map(|e| e as i64),
            object: row0.header.object.as_deref(),
            project: row0.header.project.as_deref(),
            utc_start: row0.header.utc_start,
            ra_dec: row0.header.wcs_center.or(row0
                .header
                .ra_tel
                .zip(row0.header.dec_tel.filter(|_| row0.header.pointing_valid))),
        };
        if let Some(rule) = self.rules().refusing(&facts) {
            let _ = std::fs::remove_file(part);
            self.refuse(&n.name, rule);
            return Ok(());
        }
        let rel = format!("{}/{}/{}", row0.night.year, row0.night, n.name);
        let dest = self.cfg.archive_root.join(&rel);
        let rel_for_preview = rel.clone();
        let row = ObsRow { path: rel, ..row0 };
        let (p, d) = (part.to_path_buf(), dest.clone());
        let placed = tokio::task::spawn_blocking(move || -> Result<(), String> {
            if d.exists() {
                let existing = sha256_file(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                if existing == v.sha256 {
                    std::fs::remove_file(&p).map_err(|e| e.to_string())?;
                    return Ok(());
                }
                return Err(format!(
                    "a different file with this name is already archived at {} (sha256 {existing})",
                    d.display()
                ));
            }
            let dir = d.parent().ok_or("destination has no parent")?;
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::rename(&p, &d)
                .map_err(|e| format!("{} -> {}: {e}", p.display(), d.display()))?;
            std::fs::File::open(dir)
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(reason) = placed {
            return Err(Terminal {
                reason,
                bytes: part.exists().then(|| part.to_path_buf()),
            });
        }
        // The file is in place: free the download slot before waiting for the log write.
        drop(permit);
        let (tx, rx) = oneshot::channel();
        if self.writer.send(WriteReq { row, ack: tx }).await.is_err() {
            return Err(Terminal {
                reason:
                    "log writer stopped (the file is archived; it will be logged at next start)"
                        .into(),
                bytes: None,
            });
        }
        match rx.await {
            Ok(Ok(())) => {
                info!(file = %n.name, path = %dest.display(), "archived");
                self.make_previews(dest, rel_for_preview);
                Ok(())
            }
            Ok(Err(e)) => Err(Terminal {
                reason: format!(
                    "log write failed (file kept at {}; logged at next start): {e}",
                    dest.display()
                ),
                bytes: None,
            }),
            Err(_) => Err(Terminal {
                reason: "log writer stopped before confirming".into(),
                bytes: None,
            }),
        }
    }

    /// Makes the preview PNGs in the background; a failure is logged, never fatal.
    fn make_previews(self: &Arc<Self>, src: PathBuf, rel: String) {
        if self.cfg.previews_dir.as_os_str().is_empty() {
            return;
        }
        let d = self.clone();
        tokio::task::spawn_blocking(move || {
            match tomoe_fits::preview::write_previews(&src, &d.cfg.previews_dir, &rel) {
                Ok(()) => d.count(|c| c.previews += 1),
                Err(e) => warn!(file = %rel, error = %e, "preview not made"),
            }
        });
    }

    async fn quarantine(&self, n: &Notice, t: Terminal) {
        error!(file = %n.name, url = %n.url, reason = %t.reason, "failed");
        let at = UtcMicros::now().to_iso();
        let dir = self.cfg.quarantine.clone();
        let (name, url, reason) = (n.name.clone(), n.url.to_string(), t.reason.clone());
        let with_bytes = t.bytes.is_some();
        let res = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let mut target = dir.join(&name);
            let mut k = 1;
            while target.exists() || dir.join(format!("{}.reason.json", target.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default())).exists() {
                target = dir.join(format!("{name}.{k}"));
                k += 1;
            }
            if let Some(src) = &t.bytes {
                if std::fs::rename(src, &target).is_err() {
                    std::fs::copy(src, &target)?;
                    std::fs::remove_file(src)?;
                }
            }
            let tname = target.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
            let info = serde_json::json!({"name": name, "url": url, "reason": reason, "at": at, "bytes_kept": t.bytes.is_some()});
            std::fs::write(dir.join(format!("{tname}.reason.json")), serde_json::to_vec_pretty(&info).unwrap_or_default())?;
            Ok(())
        })
        .await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(file = %n.name, error = %e, "could not write to quarantine"),
            Err(e) => error!(file = %n.name, error = %e, "quarantine task failed"),
        }
        lock(&self.failed).insert(n.name.clone(), n.size);
        self.count(|c| {
            c.failed += 1;
            if with_bytes {
                c.quarantined += 1;
            }
        });
        let mut f = lock(&self.failures);
        f.push(Failure {
            name: n.name.clone(),
            url: n.url.to_string(),
            reason: t.reason,
            at: UtcMicros::now().to_iso(),
        });
        let len = f.len();
        if len > 20 {
            f.drain(..len - 20);
        }
    }

    /// Logs files that are in recent night directories of the archive but not in the log.
    async fn recover(self: Arc<Self>) -> Result<(), String> {
        let root = self.cfg.archive_root.clone();
        let candidates = tokio::task::spawn_blocking(move || recent_archive_files(&root, 3))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        for (rel, path) in candidates {
            let name = path
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            if self.is_logged(&name).await.unwrap_or(true) {
                continue;
            }
            let p = path.clone();
            let v = match tokio::task::spawn_blocking(move || verify(&p, None, None, None)).await {
                Ok(Ok(v)) => v,
                _ => {
                    warn!(file = %path.display(), "archived file fails verification; leaving it for an operator");
                    continue;
                }
            };
            let row = ObsRow {
                path: rel,
                ..ObsRow::new(
                    &v.layout.primary,
                    &name,
                    "",
                    v.layout.size,
                    &v.sha256,
                    None,
                    UtcMicros::now(),
                )
            };
            let (tx, rx) = oneshot::channel();
            if self.writer.send(WriteReq { row, ack: tx }).await.is_ok()
                && matches!(rx.await, Ok(Ok(())))
            {
                info!(file = %name, "recovered: archived before a crash, now logged");
                self.count(|c| {
                    c.recovered += 1;
                    c.archived = c.archived.saturating_sub(1);
                });
            }
        }
        Ok(())
    }
}

fn finish(job: Job) {
    if let Some(done) = job.done {
        let _ = done.send(());
    }
}

async fn load_night(log: &ObsLog, idx: &mut LoggedIndex, n: CivilDate) -> Result<(), StoreError> {
    if idx.loaded.contains(&n) {
        return Ok(());
    }
    let l = log.clone();
    let names = tokio::task::spawn_blocking(move || l.names_in_night(n))
        .await
        .map_err(|e| StoreError::Invalid(e.to_string()))??;
    idx.names.entry(n).or_default().extend(names);
    idx.loaded.insert(n);
    Ok(())
}

/// Files under the `n` most recent `<year>/<night>` directories of the archive, as
/// (relative path, absolute path).
fn recent_archive_files(root: &Path, n: usize) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut nights = Vec::new();
    for y in std::fs::read_dir(root)?.flatten() {
        let yname = y.file_name().to_string_lossy().to_string();
        if is_hidden(&yname) || !y.path().is_dir() {
            continue;
        }
        for nd in std::fs::read_dir(y.path())?.flatten() {
            let nname = nd.file_name().to_string_lossy().to_string();
            if CivilDate::parse(&nname).is_ok() && nd.path().is_dir() {
                nights.push((nname, yname.clone(), nd.path()));
            }
        }
    }
    nights.sort();
    let mut out = Vec::new();
    for (nname, yname, dir) in nights.into_iter().rev().take(n) {
        for f in std::fs::read_dir(&dir)?.flatten() {
            let fname = f.file_name().to_string_lossy().to_string();
            if !is_hidden(&fname) && f.path().is_file() {
                out.push((format!("{yname}/{nname}/{fname}"), f.path()));
            }
        }
    }
    Ok(out)
}

struct Verified {
    layout: FitsLayout,
    sha256: String,
}

enum VerifyError {
    /// Worth another download: reason, and whether to keep the partial bytes for resume.
    Retry(String, bool),
    /// The bytes are bad.
    Bad(String),
}

/// Size, FITS structure (with DATASUM/CHECKSUM), SHA-256. `known_sha` is the digest computed
/// while downloading; without it the file is hashed from disk.
fn verify(
    path: &Path,
    size: Option<u64>,
    sha: Option<&str>,
    known_sha: Option<String>,
) -> Result<Verified, VerifyError> {
    let len = std::fs::metadata(path)
        .map_err(|e| VerifyError::Retry(format!("{}: {e}", path.display()), false))?
        .len();
    if let Some(s) = size {
        if len < s {
            return Err(VerifyError::Retry(
                format!("truncated: {len} of {s} announced bytes"),
                true,
            ));
        }
        if len > s {
            return Err(VerifyError::Retry(
                format!("{len} bytes, more than the {s} announced"),
                false,
            ));
        }
    }
    let layout = match verify_file(path) {
        Ok(l) => l,
        Err(e) if e.is_truncation() => {
            return Err(VerifyError::Retry(format!("incomplete FITS: {e}"), true))
        }
        Err(e) => return Err(VerifyError::Bad(format!("corrupt FITS: {e}"))),
    };
    let got = match known_sha {
        Some(s) => s,
        None => sha256_file(path)
            .map_err(|e| VerifyError::Retry(format!("{}: {e}", path.display()), false))?,
    };
    if let Some(want) = sha {
        if got != want {
            return Err(VerifyError::Retry(
                format!("sha256 mismatch: announced {want}, got {got}"),
                false,
            ));
        }
    }
    Ok(Verified {
        layout,
        sha256: got,
    })
}

/// Batches log rows; seals finished nights.
async fn writer_task(
    log: ObsLog,
    cfg: ArchiveConfig,
    index: Arc<tokio::sync::Mutex<LoggedIndex>>,
    counts: Arc<Mutex<Counts>>,
    mut rx: mpsc::Receiver<WriteReq>,
) {
    let flush_every = Duration::from_millis(cfg.flush_interval_ms);
    let mut pending: Vec<WriteReq> = Vec::new();
    let mut deadline = tokio::time::Instant::now() + flush_every;
    let mut seal_tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            req = rx.recv() => match req {
                Some(r) => {
                    if pending.is_empty() {
                        deadline = tokio::time::Instant::now() + flush_every;
                    }
                    pending.push(r);
                    if pending.len() >= cfg.flush_rows {
                        flush(&log, &index, &counts, &mut pending).await;
                    }
                }
                None => {
                    flush(&log, &index, &counts, &mut pending).await;
                    return;
                }
            },
            _ = tokio::time::sleep_until(deadline), if !pending.is_empty() => flush(&log, &index, &counts, &mut pending).await,
            _ = seal_tick.tick() => {
                if cfg.seal_after_hours >= 0.0 {
                    seal_finished_nights(&log, cfg.seal_after_hours, &counts).await;
                }
            }
        }
    }
}

async fn flush(
    log: &ObsLog,
    index: &tokio::sync::Mutex<LoggedIndex>,
    counts: &Mutex<Counts>,
    pending: &mut Vec<WriteReq>,
) {
    if pending.is_empty() {
        return;
    }
    let reqs = std::mem::take(pending);
    let rows: Vec<ObsRow> = reqs.iter().map(|r| r.row.clone()).collect();
    let l = log.clone();
    let res = tokio::task::spawn_blocking(move || l.append(&rows))
        .await
        .unwrap_or_else(|e| Err(StoreError::Invalid(e.to_string())));
    match res {
        Ok(_) => {
            let mut idx = index.lock().await;
            for r in &reqs {
                idx.names
                    .entry(r.row.night)
                    .or_default()
                    .insert(r.row.file_name.clone());
            }
            lock(counts).archived += reqs.len() as u64;
            for r in reqs {
                let _ = r.ack.send(Ok(()));
            }
        }
        Err(e) => {
            error!(error = %e, rows = reqs.len(), "observation log write failed");
            for r in reqs {
                let _ = r.ack.send(Err(e.to_string()));
            }
        }
    }
}

async fn seal_finished_nights(log: &ObsLog, after_hours: f64, counts: &Mutex<Counts>) {
    let l = log.clone();
    let res = tokio::task::spawn_blocking(move || -> Result<Vec<CivilDate>, StoreError> {
        let now = UtcMicros::now();
        let mut sealed = Vec::new();
        for n in l.nights()? {
            // The night ends at local noon of the next day (03:00 UTC).
            let end = UtcMicros::from_date(n.night.succ())
                .add_seconds(3.0 * 3600.0 + after_hours * 3600.0);
            if !n.sealed && now > end {
                l.seal(n.night)?;
                sealed.push(n.night);
            }
        }
        Ok(sealed)
    })
    .await;
    match res {
        Ok(Ok(s)) if !s.is_empty() => {
            info!(nights = ?s.iter().map(|n| n.to_string()).collect::<Vec<_>>(), "sealed finished nights");
            lock(counts).nights_sealed += s.len() as u64;
        }
        Ok(Err(e)) => error!(error = %e, "sealing failed"),
        _ => {}
    }
}

fn handle_payload(
    d: &Daemon,
    payload: &str,
    jobs: &mpsc::UnboundedSender<Job>,
    done: Option<oneshot::Sender<()>>,
) {
    d.beat();
    match parse_message(payload, d.base.as_ref()) {
        Ok(Message::Heartbeat) => {
            d.count(|c| c.heartbeats += 1);
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
        Ok(Message::File(notice)) => {
            d.count(|c| c.notices += 1);
            let _ = jobs.send(Job {
                notice,
                origin: Origin::Notice,
                done,
            });
        }
        Err(e) => {
            warn!(error = %e, "refused message");
            d.count(|c| c.malformed += 1);
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
    }
}

async fn pubsub_task(d: Arc<Daemon>, jobs: mpsc::UnboundedSender<Job>, cancel: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    let mut first = true;
    while !cancel.is_cancelled() {
        let client = match redis::Client::open(d.cfg.redis_url.as_str()) {
            Ok(c) => c,
            Err(e) => {
                error!(error = %e, url = %d.cfg.redis_url, "invalid Redis URL");
                return;
            }
        };
        let connect = async {
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(&d.cfg.channel).await?;
            if d.cfg.heartbeat_channel != d.cfg.channel {
                ps.subscribe(&d.cfg.heartbeat_channel).await?;
            }
            Ok::<_, redis::RedisError>(ps)
        };
        let mut ps = match tokio::select! { r = connect => r, _ = cancel.cancelled() => return } {
            Ok(ps) => ps,
            Err(e) => {
                d.redis_connected.store(false, Ordering::Relaxed);
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Redis subscribe failed");
                tokio::select! { _ = tokio::time::sleep(delay) => {}, _ = cancel.cancelled() => return }
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        d.redis_connected.store(true, Ordering::Relaxed);
        delay = Duration::from_millis(200);
        info!(channel = %d.cfg.channel, "subscribed");
        if !first {
            // Messages were lost while disconnected: reconcile now.
            d.reconcile_now.notify_one();
        }
        first = false;
        let mut stream = ps.on_message();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                m = stream.next() => match m {
                    Some(msg) => {
                        let payload: String = match msg.get_payload() {
                            Ok(p) => p,
                            Err(_) => String::from_utf8_lossy(msg.get_payload_bytes()).to_string(),
                        };
                        handle_payload(&d, &payload, &jobs, None);
                    }
                    None => break,
                }
            }
        }
        d.redis_connected.store(false, Ordering::Relaxed);
        warn!("Redis connection lost; reconnecting");
    }
}

async fn stream_task(d: Arc<Daemon>, jobs: mpsc::UnboundedSender<Job>, cancel: CancellationToken) {
    use redis::streams::{StreamReadOptions, StreamReadReply};
    use redis::AsyncCommands;
    let mut delay = Duration::from_millis(200);
    while !cancel.is_cancelled() {
        let setup = async {
            let client = redis::Client::open(d.cfg.redis_url.as_str())?;
            let cfg = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(30)));
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await?;
            let created: redis::RedisResult<()> = conn
                .xgroup_create_mkstream(&d.cfg.stream_key, &d.cfg.stream_group, "0")
                .await;
            if let Err(e) = created {
                if e.code() != Some("BUSYGROUP") {
                    return Err(e);
                }
            }
            Ok::<_, redis::RedisError>(conn)
        };
        let mut conn = match tokio::select! { r = setup => r, _ = cancel.cancelled() => return } {
            Ok(c) => c,
            Err(e) => {
                d.redis_connected.store(false, Ordering::Relaxed);
                warn!(error = %e, "Redis stream setup failed");
                tokio::select! { _ = tokio::time::sleep(delay) => {}, _ = cancel.cancelled() => return }
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        d.redis_connected.store(true, Ordering::Relaxed);
        delay = Duration::from_millis(200);
        // First our own pending entries (delivered before a crash, never acknowledged), then new ones.
        let mut cursor = "0".to_string();
        loop {
            let opts = StreamReadOptions::default()
                .group(&d.cfg.stream_group, &d.cfg.stream_consumer)
                .count(128)
                .block(1000);
            let (keys, ids) = ([d.cfg.stream_key.as_str()], [cursor.as_str()]);
            let read: redis::RedisResult<StreamReadReply> = tokio::select! {
                r = conn.xread_options(&keys, &ids, &opts) => r,
                _ = cancel.cancelled() => return,
            };
            let reply = match read {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "XREADGROUP failed; reconnecting");
                    break;
                }
            };
            let mut n = 0;
            for key in reply.keys {
                for entry in key.ids {
                    n += 1;
                    let field = |k: &str| {
                        entry
                            .map
                            .get(k)
                            .and_then(|v| redis::from_redis_value::<String>(v.clone()).ok())
                    };
                    let payload = ["msg", "message", "payload", "data"]
                        .iter()
                        .find_map(|k| field(k))
                        .unwrap_or_else(|| {
                            let w = crate::message::WireMessage {
                                kind: field("type"),
                                path: field("path"),
                                url: field("url"),
                                size: field("size").and_then(|s| s.parse().ok()),
                                sha256: field("sha256"),
                                ..Default::default()
                            };
                            serde_json::to_string(&w).unwrap_or_default()
                        });
                    let (tx, rx) = oneshot::channel();
                    handle_payload(&d, &payload, &jobs, Some(tx));
                    let (mut c2, key, group, id) = (
                        conn.clone(),
                        d.cfg.stream_key.clone(),
                        d.cfg.stream_group.clone(),
                        entry.id.clone(),
                    );
                    tokio::spawn(async move {
                        if rx.await.is_ok() {
                            let r: redis::RedisResult<i64> = c2.xack(&key, &group, &[&id]).await;
                            if let Err(e) = r {
                                warn!(error = %e, id = %id, "XACK failed (the entry will be redelivered)");
                            }
                        }
                    });
                }
            }
            if cursor == "0" && n == 0 {
                cursor = ">".into();
            }
        }
        d.redis_connected.store(false, Ordering::Relaxed);
    }
}

async fn reconcile_task(
    d: Arc<Daemon>,
    jobs: mpsc::UnboundedSender<Job>,
    cancel: CancellationToken,
) {
    let every = if d.cfg.reconcile_interval_s == 0 {
        Duration::from_secs(86_400 * 365)
    } else {
        Duration::from_secs(d.cfg.reconcile_interval_s)
    };
    loop {
        if let Err(e) = reconcile_once(&d, &jobs).await {
            warn!(error = %e, "reconciliation failed (will retry)");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
            _ = d.reconcile_now.notified() => {}
        }
    }
}

async fn reconcile_once(
    d: &Arc<Daemon>,
    jobs: &mpsc::UnboundedSender<Job>,
) -> Result<usize, String> {
    let Some(base) = &d.base else { return Ok(0) };
    let url = base.join("_index.json").map_err(|e| e.to_string())?;
    let resp = d
        .client
        .get(url.clone())
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let listing: Listing = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
    let mut n = 0;
    for e in listing.files {
        let Some(name) = e.path.rsplit('/').next().map(str::to_string) else {
            continue;
        };
        if is_hidden(&name) || e.dir {
            continue;
        }
        if lock(&d.failed)
            .get(&name)
            .is_some_and(|s| *s == Some(e.size))
            || lock(&d.inflight).contains(&name)
        {
            continue;
        }
        if d.is_logged(&name).await.unwrap_or(false) {
            continue;
        }
        let Ok(file_url) = base.join(
            &e.path
                .split('/')
                .map(|s| {
                    percent_encoding::utf8_percent_encode(s, crate::fileserver::SEGMENT).to_string()
                })
                .collect::<Vec<_>>()
                .join("/"),
        ) else {
            continue;
        };
        n += 1;
        let _ = jobs.send(Job {
            notice: Notice {
                url: file_url,
                name,
                size: Some(e.size),
                sha256: None,
            },
            origin: Origin::Reconcile,
            done: None,
        });
    }
    if n > 0 {
        info!(files = n, "reconciliation found files not yet archived");
        d.count(|c| c.reconciled += n as u64);
    }
    Ok(n)
}

/// Writes the status snapshot to `<state_dir>/status.json` atomically.
pub fn write_status(s: &Status, state_dir: &Path) -> std::io::Result<()> {
    let path = state_dir.join("status.json");
    let tmp = state_dir.join(".status.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(s).unwrap_or_default())?;
    std::fs::rename(tmp, path)
}

/// Reads `<state_dir>/status.json`.
pub fn read_status(state_dir: &Path) -> std::io::Result<Status> {
    let bytes = std::fs::read(state_dir.join("status.json"))?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

async fn status_task(d: Arc<Daemon>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                let s = d.snapshot();
                if let Err(e) = write_status(&s, &d.cfg.state_dir) {
                    warn!(error = %e, "cannot write status file");
                }
            }
        }
    }
}

async fn status_server(d: Arc<Daemon>, cancel: CancellationToken) {
    use axum::http::StatusCode;
    use axum::routing::get;
    let dd = d.clone();
    let d2 = d.clone();
    let d3 = d.clone();
    let app = axum::Router::new()
        .route(
            "/healthz",
            get(move || {
                let s = dd.snapshot();
                async move {
                    if s.healthy {
                        (StatusCode::OK, "ok\n".to_string())
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("{}\n", s.problems.join("; ")),
                        )
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let s = d2.snapshot();
                async move { s.prometheus() }
            }),
        )
        .route(
            "/status",
            get(move || {
                let s = d3.snapshot();
                async move { axum::Json(s) }
            }),
        );
    let listener = match tokio::net::TcpListener::bind(&d.cfg.status_listen).await {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, addr = %d.cfg.status_listen, "cannot bind status server");
            return;
        }
    };
    if let Ok(a) = listener.local_addr() {
        info!(addr = %a, "status server listening");
    }
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await;
}
