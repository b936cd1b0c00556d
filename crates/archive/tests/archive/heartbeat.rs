//! Heartbeat silence turns the status unhealthy; beats make it healthy again.

use crate::common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_is_unhealthy() {
    let env = Env::new().await;
    let mut cfg = env.cfg();
    cfg.status_listen = format!("127.0.0.1:{}", tomoe_testkit::free_port().unwrap());
    let d = Daemon::start(cfg.clone()).await;
    let beat = r#"{"type":"heartbeat","sent_at":"2023-01-02T00:00:00"}"#;
    for _ in 0..4 {
        env.publish(&cfg.heartbeat_channel, beat).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let s = d
        .wait(Duration::from_secs(5), "healthy", |s| s.healthy)
        .await;
    assert!(s.counts.heartbeats >= 4 && !s.source_silent);
    let health = format!("http://{}/healthz", cfg.status_listen);
    assert_eq!(reqwest::get(&health).await.unwrap().status(), 200);
    // Heartbeats stop: after 2 missed beats of 1 s the source is silent.
    let s = d
        .wait(Duration::from_secs(10), "silent", |s| s.source_silent)
        .await;
    assert!(!s.healthy);
    assert!(
        s.problems.iter().any(|p| p.contains("source silent")),
        "{:?}",
        s.problems
    );
    let r = reqwest::get(&health).await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("source silent"));
    let metrics = reqwest::get(format!("http://{}/metrics", cfg.status_listen))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tomoe_archive_source_silent 1"),
        "{metrics}"
    );
    // A plain-text heartbeat (the simple sender's form) brings it back.
    env.publish(&cfg.heartbeat_channel, "heartbeat").await;
    d.wait(Duration::from_secs(5), "healthy again", |s| s.healthy)
        .await;
    d.stop().await;
}
