//! The announcer: one message per completed file (never for a partial one), with the right
//! size and SHA-256, plus heartbeats; the daemon archives what it announces.

use crate::common::*;
use futures::StreamExt;
use std::io::Write;
use std::time::Duration;
use tomoe_archive::announce::{run_announcer, AnnounceConfig};
use tomoe_archive::message::{parse_message, Message};
use tomoe_sim::stacks::write_one;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announces_complete_files_once_with_heartbeats() {
    let env = Env::new().await;
    let client = redis::Client::open(env.redis.url()).unwrap();
    let mut ps = client.get_async_pubsub().await.unwrap();
    ps.subscribe("tomoe:files").await.unwrap();
    let sim = small_sim();
    // Present before start: not announced by default.
    write_one(&sim, &env.source, 0, 0).unwrap();

    let mut cfg = AnnounceConfig::new(env.source.clone(), &env.redis.url());
    cfg.base_url = Some(url::Url::parse(&env.base).unwrap());
    cfg.heartbeat_interval = Duration::from_millis(300);
    cfg.poll_interval = Duration::from_millis(50);
    cfg.settle = Duration::from_millis(200);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let announcer = tokio::spawn(run_announcer(cfg, async move {
        let _ = stop_rx.await;
    }));

    // A writer that writes slowly and non-atomically: the announcer must wait for the end.
    let full = std::fs::read(write_one(&sim, env.dir.path(), 0, 1).unwrap().path).unwrap();
    let name = "sTMQ1202301020086026212.fits";
    let mut f = std::fs::File::create(env.source.join(name)).unwrap();
    for chunk in full.chunks(full.len() / 4 + 1) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(f);
    let atomic = write_one(&sim, &env.source, 0, 2).unwrap();

    let mut stream = ps.on_message();
    let mut files = Vec::new();
    let mut beats = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while files.len() < 2 || beats < 2 {
        let m = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("messages in time")
            .unwrap();
        let payload: String = m.get_payload().unwrap();
        match parse_message(&payload, None).unwrap() {
            Message::Heartbeat => beats += 1,
            Message::File(n) => files.push((n, payload)),
        }
    }
    let _ = stop_tx.send(());
    let summary = announcer.await.unwrap().unwrap();
    assert_eq!(summary.files, 2);
    let mut got: Vec<_> = files.iter().map(|(n, _)| n.name.clone()).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            name.to_string(),
            atomic
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string()
        ]
    );
    for (n, payload) in &files {
        let path = env.source.join(&n.name);
        assert_eq!(
            n.size,
            Some(std::fs::metadata(&path).unwrap().len()),
            "{payload}"
        );
        assert_eq!(
            n.sha256.as_deref(),
            Some(sha256(&path).as_str()),
            "size and digest of the complete file"
        );
        assert_eq!(n.url.as_str(), format!("{}{}", env.base, n.name));
    }
}
