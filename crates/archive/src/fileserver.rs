//! `tomoe files serve`: a small HTTP file server over a directory.
//!
//! * `GET /<file>` and `HEAD /<file>`: the bytes, with `Content-Length`, `Last-Modified`,
//!   `ETag` and single-range `Range` requests (tower-http `ServeDir`).
//! * `GET /<dir>/`: an HTML listing; with `?format=json` or `Accept: application/json`, JSON.
//! * `GET /_index.json`: every completed file below the root, recursively, as JSON
//!   `{"files":[{"path":…,"size":…,"mtime":…}]}` — what the archive reconciles against.
//! * `GET /healthz`: `ok`.
//!
//! Hidden files (`.name`) and temporaries (`*.tmp`, `*.part`) are never listed or served.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// One listed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (ISO UTC).
    pub mtime: String,
    /// True for directories (directory listings only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dir: bool,
}

/// The JSON listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Entries, sorted by path.
    pub files: Vec<Entry>,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
}

/// Characters escaped in URL path segments (everything but unreserved characters).
pub const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// True for names the server hides (partial or temporary files).
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part")
}

/// The router serving `root`.
pub fn router(root: PathBuf) -> Router {
    let shared = Arc::new(Shared { root });
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/_index.json", get(index_json))
        .fallback(serve)
        .with_state(shared)
}

fn mtime_iso(m: &std::fs::Metadata) -> String {
    let t = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    tomoe_core::UtcMicros(t.as_micros() as i64).to_iso()
}

/// Lists every completed file below `root` recursively.
pub fn list_recursive(root: &Path) -> std::io::Result<Listing> {
    let mut files = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().to_string();
            if is_hidden(&name) {
                continue;
            }
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push((e.path(), rel));
            } else if m.is_file() {
                files.push(Entry {
                    path: rel,
                    size: m.len(),
                    mtime: mtime_iso(&m),
                    dir: false,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Listing { files })
}

async fn index_json(State(s): State<Arc<Shared>>) -> Response {
    let root = s.root.clone();
    match tokio::task::spawn_blocking(move || list_recursive(&root)).await {
        Ok(Ok(l)) => Json(l).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("listing failed: {e}"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("listing failed: {e}"),
        )
            .into_response(),
    }
}

/// Maps a request path to a file system path under root, refusing traversal and hidden names.
fn resolve(root: &Path, uri_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(uri_path)
        .decode_utf8()
        .ok()?;
    let mut p = root.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(n) => {
                if is_hidden(&n.to_string_lossy()) {
                    return None;
                }
                p.push(n)
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(p)
}

async fn serve(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let Some(fs_path) = resolve(&s.root, &path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if fs_path.is_dir() {
        let json = req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "format=json"))
            || req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/json"));
        return list_dir(&fs_path, &path, json);
    }
    match ServeDir::new(&s.root).oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn list_dir(dir: &Path, uri_path: &str, json: bool) -> Response {
    let mut entries = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot list: {e}"),
            )
                .into_response()
        }
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if is_hidden(&name) {
            continue;
        }
        if let Ok(m) = e.metadata() {
            entries.push(Entry {
                path: name,
                size: if m.is_dir() { 0 } else { m.len() },
                mtime: mtime_iso(&m),
                dir: m.is_dir(),
            });
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    if json {
        return Json(Listing { files: entries }).into_response();
    }
    let base = if uri_path.ends_with('/') {
        uri_path.to_string()
    } else {
        format!("{uri_path}/")
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut html = format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>Index of {0}</title></head><body><h1>Index of {0}</h1><table><tr><th>name</th><th>size</th><th>modified (UTC)</th></tr>", esc(&base));
    for e in &entries {
        let href = format!(
            "{base}{}{}",
            percent_encoding::utf8_percent_encode(&e.path, SEGMENT),
            if e.dir { "/" } else { "" }
        );
        html.push_str(&format!(
            "<tr><td><a href=\"{}\">{}{}</a></td><td>{}</td><td>{}</td></tr>",
            esc(&href),
            esc(&e.path),
            if e.dir { "/" } else { "" },
            e.size,
            e.mtime
        ));
    }
    html.push_str("</table></body></html>");
    Html(html).into_response()
}
