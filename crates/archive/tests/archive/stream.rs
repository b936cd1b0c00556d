//! The Redis Stream transport: nothing is lost while the daemon is away, entries are acknowledged.

use crate::common::*;
use redis::AsyncCommands;
use std::time::Duration;
use tomoe_archive::config::Transport;
use tomoe_sim::stacks::write_one;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_with_consumer_group() {
    let env = Env::new().await;
    let mut cfg = env.cfg();
    cfg.transport = Transport::Stream;
    cfg.source_url = env.base.clone();
    let client = redis::Client::open(env.redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let sim = small_sim();
    // Entries added before the daemon ever ran (the group is created at its first start from id 0).
    for k in 0..5 {
        let f = write_one(&sim, &env.source, 0, k).unwrap();
        let msg = notice(&env, &f.path.file_name().unwrap().to_string_lossy());
        let _: String = c
            .xadd(&cfg.stream_key, "*", &[("msg", msg.as_str())])
            .await
            .unwrap();
    }
    // Field form without a msg field.
    let f = write_one(&sim, &env.source, 0, 5).unwrap();
    let _: String = c
        .xadd(
            &cfg.stream_key,
            "*",
            &[("path", f.path.file_name().unwrap().to_str().unwrap())],
        )
        .await
        .unwrap();
    let _: String = c
        .xadd(&cfg.stream_key, "*", &[("msg", "heartbeat")])
        .await
        .unwrap();
    let d = Daemon::start(cfg.clone()).await;
    d.wait(Duration::from_secs(30), "6 archived", |s| {
        s.counts.archived >= 6
    })
    .await;
    // All entries acknowledged.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pending: redis::Value = redis::cmd("XPENDING")
            .arg(&cfg.stream_key)
            .arg(&cfg.stream_group)
            .query_async(&mut c)
            .await
            .unwrap();
        let n = match &pending {
            redis::Value::Array(v) => match v.first() {
                Some(redis::Value::Int(n)) => *n,
                _ => -1,
            },
            _ => -1,
        };
        if n == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "entries still pending: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.stop().await;
    assert_eq!(log_counts(&cfg.obslog_root).await, (6, 6));
}
