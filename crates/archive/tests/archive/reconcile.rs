//! Files announced while the daemon was down are recovered from the file server's listing.

use crate::common::*;
use std::time::Duration;
use tomoe_sim::stacks::write_one;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_announced_while_down_are_reconciled() {
    let env = Env::new().await;
    let mut cfg = env.cfg();
    let sim = small_sim();
    // Announced with nobody listening: pub/sub drops these.
    for c in 0..10 {
        let f = write_one(&sim, &env.source, 0, c).unwrap();
        env.publish(
            &cfg.channel,
            &notice(&env, &f.path.file_name().unwrap().to_string_lossy()),
        )
        .await;
    }
    // Hidden and temporary files on the server are never taken.
    std::fs::write(env.source.join(".partial.fits"), b"x").unwrap();
    std::fs::write(env.source.join("upload.fits.tmp"), b"x").unwrap();
    cfg.reconcile_interval_s = 1;
    let d = Daemon::start(cfg.clone()).await;
    let s = d
        .wait(Duration::from_secs(30), "10 reconciled", |s| {
            s.counts.archived >= 10
        })
        .await;
    assert_eq!(s.counts.reconciled, 10);
    assert_eq!(s.counts.notices, 0);
    // A file that appears later without any message is found by the periodic pass.
    write_one(&sim, &env.source, 1, 0).unwrap();
    let s = d
        .wait(Duration::from_secs(30), "periodic reconciliation", |s| {
            s.counts.archived >= 11
        })
        .await;
    assert_eq!(s.counts.failed, 0, "{:?}", s.recent_failures);
    d.stop().await;
    assert_eq!(log_counts(&cfg.obslog_root).await, (11, 11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_but_unlogged_files_are_logged_at_start() {
    // A crash between the rename into the archive and the log write leaves such a file.
    let env = Env::new().await;
    let mut cfg = env.cfg();
    cfg.source_url = String::new(); // no file server: only the archive tree can tell
    let sim = small_sim();
    let f = write_one(&sim, &env.source, 0, 0).unwrap();
    let night = f.frame_id.date;
    let dest = cfg.archive_root.join(format!("{}/{}", night.year, night));
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::copy(&f.path, dest.join(f.path.file_name().unwrap())).unwrap();
    let d = Daemon::start(cfg.clone()).await;
    let s = d
        .wait(Duration::from_secs(20), "recovery", |s| {
            s.counts.recovered >= 1
        })
        .await;
    assert_eq!(s.counts.archived, 0);
    d.stop().await;
    assert_eq!(log_counts(&cfg.obslog_root).await, (1, 1));
    // A second start finds nothing more to do.
    let d = Daemon::start(cfg.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(d.stop().await.counts.recovered, 0);
    assert_eq!(log_counts(&cfg.obslog_root).await, (1, 1));
}
