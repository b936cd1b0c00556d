//! Every failure mode ends as it should, and the daemon keeps running.

use crate::common::*;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tomoe_sim::stacks::write_one;

#[derive(Clone)]
struct Bad {
    dir: PathBuf,
    hits: Arc<Mutex<HashMap<String, u32>>>,
}

/// Serves a file honouring `Range: bytes=N-`.
fn serve_file(dir: &std::path::Path, name: &str, headers: &HeaderMap) -> Response {
    let Ok(bytes) = std::fs::read(dir.join(name)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    match start {
        Some(s) if s >= bytes.len() => StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        Some(s) => Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {s}-{}/{}", bytes.len() - 1, bytes.len()),
            )
            .header(header::CONTENT_LENGTH, bytes.len() - s)
            .body(Body::from(bytes[s..].to_vec()))
            .unwrap(),
        None => Response::builder()
            .header(header::CONTENT_LENGTH, bytes.len())
            .body(Body::from(bytes))
            .unwrap(),
    }
}

async fn misbehave(
    State(b): State<Bad>,
    UrlPath((mode, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let n = {
        let mut h = b.hits.lock().unwrap();
        let e = h.entry(format!("{mode}/{name}")).or_insert(0);
        *e += 1;
        *e
    };
    if n > 1 {
        return serve_file(&b.dir, &name, &headers);
    }
    let bytes = std::fs::read(b.dir.join(&name)).unwrap();
    let half = bytes[..bytes.len() / 2].to_vec();
    match mode.as_str() {
        "flaky500" => (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response(),
        "trunc" => {
            let s = futures::stream::iter(vec![
                Ok::<_, std::io::Error>(bytes::Bytes::from(half)),
                Err(std::io::Error::other("connection cut")),
            ]);
            Response::builder()
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(Body::from_stream(s))
                .unwrap()
        }
        "stall" => {
            use futures::StreamExt;
            let s = futures::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(half))])
                .chain(futures::stream::pending());
            Response::builder()
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(Body::from_stream(s))
                .unwrap()
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_modes_end_as_they_should() {
    let env = Env::new().await;
    let cfg = env.cfg();
    let bad = Bad {
        dir: env.source.clone(),
        hits: Arc::default(),
    };
    let bad_base = serve(
        axum::Router::new()
            .route("/{mode}/{name}", get(misbehave))
            .with_state(bad.clone()),
    )
    .await;
    let d = Daemon::start(cfg.clone()).await;
    let sim = small_sim();
    let name = |c: usize| {
        write_one(&sim, &env.source, 0, c)
            .unwrap()
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string()
    };

    // Recoverable: 500 then 200; a transfer cut half-way; a server that stalls mid-body.
    let (f500, ftrunc, fstall) = (name(0), name(1), name(2));
    env.publish(&cfg.channel, &format!("{bad_base}flaky500/{f500}"))
        .await;
    env.publish(&cfg.channel, &serde_json::json!({"url": format!("{bad_base}trunc/{ftrunc}"), "size": std::fs::metadata(env.source.join(&ftrunc)).unwrap().len()}).to_string()).await;
    env.publish(&cfg.channel, &format!("{bad_base}stall/{fstall}"))
        .await;

    // Terminal: corrupt data (checksum), not FITS at all, sha256 mismatch, 404, FITS truncated on the server.
    let fcorrupt = name(3);
    let mut bytes = std::fs::read(env.source.join(&fcorrupt)).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x55;
    std::fs::write(env.source.join(&fcorrupt), &bytes).unwrap();
    env.publish(&cfg.channel, &notice(&env, &fcorrupt)).await;
    std::fs::write(env.source.join("notes.fits"), b"hello, not a FITS file").unwrap();
    env.publish(&cfg.channel, "notes.fits").await;
    let fsha = name(4);
    env.publish(
        &cfg.channel,
        &serde_json::json!({"path": fsha, "sha256": "0".repeat(64)}).to_string(),
    )
    .await;
    env.publish(&cfg.channel, "sTMQ1209901010000000011.fits")
        .await;
    let fshort = name(5);
    let full = std::fs::read(env.source.join(&fshort)).unwrap();
    std::fs::write(env.source.join(&fshort), &full[..full.len() - 2880]).unwrap();
    env.publish(&cfg.channel, &fshort).await;

    // Malformed messages are refused; a duplicate message is a no-op.
    env.publish(&cfg.channel, "{garbage").await;
    env.publish(&cfg.channel, "../../etc/passwd").await;
    env.publish(&cfg.channel, &format!("{bad_base}flaky500/{f500}"))
        .await;

    let s = d
        .wait(Duration::from_secs(60), "3 archived and 5 failed", |s| {
            s.counts.archived >= 3 && s.counts.failed >= 5
        })
        .await;
    assert_eq!(s.counts.archived, 3, "{:#?}", s);
    assert_eq!(s.counts.failed, 5, "{:#?}", s.recent_failures);
    assert_eq!(s.counts.malformed, 2);
    assert!(
        s.counts.retries >= 3,
        "500, cut and stall each need a retry: {}",
        s.counts.retries
    );
    assert!(s.counts.duplicates >= 1);
    assert_eq!(log_counts(&cfg.obslog_root).await, (3, 3));
    // The resumed transfers sent Range requests and the archived bytes are the originals.
    for f in [&f500, &ftrunc, &fstall] {
        let night = tomoe_fits::FrameId::find_in(f).unwrap().date;
        assert_eq!(
            sha256(
                &cfg.archive_root
                    .join(format!("{}/{}/{f}", night.year, night))
            ),
            sha256(&env.source.join(f))
        );
    }

    let reason = |f: &str| -> String {
        let p = cfg.quarantine.join(format!("{f}.reason.json"));
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap();
        v["reason"].as_str().unwrap().to_string()
    };
    assert!(
        reason(&fcorrupt).contains("DATASUM mismatch"),
        "{}",
        reason(&fcorrupt)
    );
    assert!(
        cfg.quarantine.join(&fcorrupt).exists(),
        "bytes kept for inspection"
    );
    assert!(
        reason("notes.fits").contains("not a FITS file"),
        "{}",
        reason("notes.fits")
    );
    assert!(
        reason(&fsha).contains("sha256 mismatch"),
        "{}",
        reason(&fsha)
    );
    assert!(reason("sTMQ1209901010000000011.fits").contains("404"));
    assert!(!cfg.quarantine.join("sTMQ1209901010000000011.fits").exists());
    assert!(
        reason(&fshort).contains("incomplete FITS"),
        "{}",
        reason(&fshort)
    );
    // Nothing failed reached the archive tree.
    for f in [&fcorrupt, &fsha, &fshort] {
        let night = tomoe_fits::FrameId::find_in(f).unwrap().date;
        assert!(!cfg
            .archive_root
            .join(format!("{}/{}/{f}", night.year, night))
            .exists());
    }

    // Still running: a good file afterwards is archived.
    let good = name(6);
    env.publish(&cfg.channel, &notice(&env, &good)).await;
    d.wait(Duration::from_secs(20), "good file after failures", |s| {
        s.counts.archived >= 4
    })
    .await;
    d.stop().await;
}
