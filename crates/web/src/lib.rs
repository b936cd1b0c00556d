//! `tomoe-web`: the archive's web pages and HTTP API.
//!
//! * `/archive/{year}`: one row per exposure in a DataTables table with server-side
//!   processing (`/api/dt/exposures`), a search box per column and a global search.
//! * `/exposure/{exp_id}`: its chip files with thumbnails, previews, headers and downloads.
//! * `/files/{year}/{night}/{file}`: the archived bytes (Content-Length, Range, HEAD).
//! * `/previews/…` and `/thumbs/…`: PNGs made at ingest, or on first request.
//! * `/api/exposures` (JSON/CSV), `/api/exposures/{exp_id}`, `/api/years`,
//!   `/api/openapi.json`; the admin API `/api/admin/blocklist` (bearer token).
//!
//! Every public surface goes through the exposure index and [`tomoe_store::exposures::chip_files`],
//! both of which leave out what the blocklist hides. Searches are parsed into typed filters:
//! user text never becomes SQL. Front-end libraries are embedded (no CDN).
//!
//! [`router`] builds the service for in-process tests; [`serve`] runs it with a refresh task
//! and graceful shutdown.

pub mod config;
mod lc;
mod lcpages;
mod pages;
mod params;
pub mod state;

pub use config::WebConfig;
pub use state::{AppState, SetupError};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tomoe_core::time::CivilDate;
use tomoe_store::blocklist::{BlocklistError, NewRule};
use tomoe_store::exposures::{chip_files, ChipFile, Column};
use tower::ServiceExt;
use tracing::{info, warn};

/// Embedded front-end files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "jquery.min.js",
        "text/javascript",
        include_bytes!("../assets/vendor/jquery.min.js"),
    ),
    (
        "dataTables.min.js",
        "text/javascript",
        include_bytes!("../assets/vendor/dataTables.min.js"),
    ),
    (
        "dataTables.dataTables.min.css",
        "text/css",
        include_bytes!("../assets/vendor/dataTables.dataTables.min.css"),
    ),
    (
        "plotly-basic.min.js",
        "text/javascript",
        include_bytes!("../assets/vendor/plotly-basic.min.js"),
    ),
    (
        "LICENSE-plotly.txt",
        "text/plain",
        include_bytes!("../assets/vendor/LICENSE-plotly.txt"),
    ),
    (
        "app.js",
        "text/javascript",
        include_bytes!("../assets/app.js"),
    ),
    (
        "lc.js",
        "text/javascript",
        include_bytes!("../assets/lc.js"),
    ),
    (
        "style.css",
        "text/css",
        include_bytes!("../assets/style.css"),
    ),
    (
        "LICENSE-jquery.txt",
        "text/plain",
        include_bytes!("../assets/vendor/LICENSE-jquery.txt"),
    ),
    (
        "LICENSE-datatables.txt",
        "text/plain",
        include_bytes!("../assets/vendor/LICENSE-datatables.txt"),
    ),
];

/// The OpenAPI description of the API.
pub const OPENAPI: &str = include_str!("../assets/openapi.json");

/// An error answer: status and a message, as JSON `{"error": …}` (or text for pages).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        warn!(error = %e, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {e}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;
type Shared = Arc<AppState>;

/// The service. Needs `ConnectInfo<SocketAddr>` for per-client limits (added by [`serve`]);
/// without it (in-process tests) the client counts as 127.0.0.1.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/archive") }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/archive", get(pages::archive_latest))
        .route("/archive/{year}", get(pages::archive_year))
        .route("/exposure/{exp_id}", get(pages::exposure_page))
        .route("/assets/{name}", get(asset))
        .route("/api/openapi.json", get(openapi))
        .route("/api/years", get(api_years))
        .route("/api/dt/exposures", get(api_datatables))
        .route("/api/exposures", get(api_exposures))
        .route("/api/exposures/{exp_id}", get(api_exposure))
        .route("/api/files/{year}/{night}/{file}/header", get(api_header))
        .route("/files/{year}/{night}/{file}", get(download))
        .route("/previews/{year}/{night}/{file}", get(preview))
        .route("/thumbs/{year}/{night}/{file}", get(thumb))
        .route("/api/admin/blocklist", get(admin_list).post(admin_add))
        .route("/api/admin/blocklist/{id}", delete(admin_remove))
        .route("/api/admin/audit", get(admin_audit))
        .route("/scs", get(lc::scs))
        .route("/scs/capabilities", get(lc::capabilities))
        .route("/api/lc/cone", get(lc::api_cone))
        .route("/api/lc/objects/{id}", get(lc::api_curve))
        .route("/api/lc/fields/{exp_id}/{det_id}", get(lc::api_field))
        .route("/api/lc/movers", get(lc::api_movers))
        .route("/api/lc/calibration", get(lc::api_calibration))
        .route("/api/lc/nearest", get(lc::api_nearest))
        .route("/lc", get(lcpages::search_page))
        .route("/lc/find", get(lcpages::find))
        .route("/lc/field/{exp_id}/{det_id}", get(lcpages::field_page))
        .route("/lc/object/{id}", get(lcpages::object_page))
        .route("/lc/movers", get(lcpages::movers_page))
        .fallback(|| async { ApiError::not_found("no such page") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Client address: the socket peer, or the first `X-Forwarded-For` entry when trusted.
fn client_ip(state: &AppState, req: &Request) -> IpAddr {
    if state.cfg.trust_forwarded_for {
        if let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Refuses denied addresses (403) and clients over their rate (429).
async fn guard(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let ip = client_ip(&state, &req);
    if state.denied(ip) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("requests from {ip} are refused"),
        )
        .into_response();
    }
    if req.uri().path() != "/healthz" && !state.allow(ip) {
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many requests from {ip}: at most {} per second",
                state.cfg.rate_per_s
            ),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    next.run(req).await
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, bytes)) => (
            [
                (header::CONTENT_TYPE, *ct),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => ApiError::not_found(format!("no asset {name:?}")).into_response(),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[derive(Serialize)]
struct YearCount {
    year: i32,
    exposures: usize,
}

async fn api_years(State(s): State<Shared>) -> Json<Vec<YearCount>> {
    let g = s.indexed.read().unwrap_or_else(|e| e.into_inner());
    Json(
        g.index
            .years()
            .into_iter()
            .map(|(year, exposures)| YearCount { year, exposures })
            .collect(),
    )
}

/// DataTables server-side processing.
async fn api_datatables(
    State(s): State<Shared>,
    uri: axum::http::Uri,
) -> ApiResult<Json<serde_json::Value>> {
    let (draw, q) = params::datatables(uri.query().unwrap_or(""), s.cfg.max_page_length)?;
    let page = {
        let g = s.indexed.read().unwrap_or_else(|e| e.into_inner());
        g.index.query(&q)
    };
    Ok(Json(serde_json::json!({
        "draw": draw,
        "recordsTotal": page.total,
        "recordsFiltered": page.filtered,
        "data": page.rows,
    })))
}

/// The plain API: JSON or CSV.
async fn api_exposures(State(s): State<Shared>, uri: axum::http::Uri) -> ApiResult<Response> {
    let (format, q) = params::api(uri.query().unwrap_or(""), s.cfg.max_page_length)?;
    let page = {
        let g = s.indexed.read().unwrap_or_else(|e| e.into_inner());
        g.index.query(&q)
    };
    if format == "csv" {
        let mut out = String::new();
        let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        out.push_str(&names.join(","));
        out.push('\n');
        for e in &page.rows {
            let v = serde_json::to_value(e).map_err(ApiError::internal)?;
            let cells: Vec<String> = names
                .iter()
                .map(|n| match &v[*n] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(t) => csv_cell(t),
                    other => other.to_string(),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"exposures.csv\"",
                ),
            ],
            out,
        )
            .into_response());
    }
    Ok(Json(page).into_response())
}

fn csv_cell(t: &str) -> String {
    if t.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t.to_string()
    }
}

pub(crate) fn parse_exp_id(s: &str) -> ApiResult<i64> {
    s.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| ApiError::bad(format!("exposure id {s:?} is not a non-negative integer")))
}

/// An exposure and its files, or 404 (unknown and blocked look the same).
pub(crate) async fn exposure_files(
    s: &Shared,
    exp_id: i64,
) -> ApiResult<(tomoe_store::exposures::Exposure, Vec<ChipFile>)> {
    let (exp, rules) = {
        let g = s.indexed.read().unwrap_or_else(|e| e.into_inner());
        (g.index.get(exp_id).cloned(), g.rules.clone())
    };
    let exp = exp.ok_or_else(|| ApiError::not_found(format!("no exposure {exp_id}")))?;
    let night = CivilDate::parse(&exp.night).map_err(ApiError::internal)?;
    let s2 = s.clone();
    let files = tokio::task::spawn_blocking(move || {
        chip_files(&s2.log, night, &rules, |e, _| e == Some(exp_id), false)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok((exp, files))
}

async fn api_exposure(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let exp_id = parse_exp_id(&id)?;
    let (exp, files) = exposure_files(&s, exp_id).await?;
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            v["download"] = format!("/files/{}", f.path).into();
            v["preview"] = format!("/previews/{}", f.path).into();
            v["thumbnail"] = format!("/thumbs/{}", f.path).into();
            v["header_url"] = format!("/api/files/{}/header", f.path).into();
            v
        })
        .collect();
    Ok(Json(serde_json::json!({ "exposure": exp, "files": files })))
}

/// Checks `{year}/{night}/{file}` and finds the (visible) file in the log.
async fn find_file(
    s: &Shared,
    year: &str,
    night: &str,
    file: &str,
    with_header: bool,
) -> ApiResult<ChipFile> {
    let n = CivilDate::parse(night)
        .map_err(|_| ApiError::bad(format!("night {night:?} is not YYYY-MM-DD")))?;
    if year != n.year.to_string() {
        return Err(ApiError::bad(format!(
            "year {year:?} does not match night {night}"
        )));
    }
    if file.is_empty()
        || file.len() > 255
        || file.starts_with('.')
        || !file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
    {
        return Err(ApiError::bad(format!(
            "{file:?} is not an archive file name"
        )));
    }
    let rules = s
        .indexed
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .rules
        .clone();
    let (s2, name) = (s.clone(), file.to_string());
    let found = tokio::task::spawn_blocking(move || {
        chip_files(&s2.log, n, &rules, |_, f| f == name, with_header)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let f = found
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("no archived file {year}/{night}/{file}")))?;
    // The logged path must stay inside the archive.
    if f.path.split('/').any(|c| c == ".." || c.is_empty()) || f.path.starts_with('/') {
        return Err(ApiError::internal(format!(
            "unsafe path in log: {}",
            f.path
        )));
    }
    Ok(f)
}

async fn api_header(
    State(s): State<Shared>,
    Path((year, night, file)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let f = find_file(&s, &year, &night, &file, true).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        f.header.unwrap_or_default(),
    )
        .into_response())
}

async fn download(
    State(s): State<Shared>,
    Path((year, night, file)): Path<(String, String, String)>,
    req: Request,
) -> ApiResult<Response> {
    let f = find_file(&s, &year, &night, &file, false).await?;
    if f.tier != "local" {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} is on tier {:?}, not served by this server",
                f.file_name, f.tier
            ),
        ));
    }
    let path = s.cfg.archive_root.join(&f.path);
    if !path.is_file() {
        return Err(ApiError::internal(format!(
            "{} is logged but missing from the archive",
            f.path
        )));
    }
    let mut res = tower_http::services::ServeFile::new_with_mime(
        &path,
        &"application/fits".parse().map_err(ApiError::internal)?,
    )
    .oneshot(req)
    .await
    .map_err(ApiError::internal)?
    .map(Body::new);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", f.file_name)) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

async fn png_for(
    s: Shared,
    year: String,
    night: String,
    file: String,
    thumb: bool,
) -> ApiResult<Response> {
    let file = file.strip_suffix(".png").unwrap_or(&file).to_string();
    let f = find_file(&s, &year, &night, &file, false).await?;
    let (p, t) = tomoe_fits::preview::preview_paths(&s.cfg.previews_dir, &f.path);
    let want = if thumb { t } else { p };
    if !want.is_file() {
        // Made at ingest by the archive daemon; made here for files archived before that.
        let src = s.cfg.archive_root.join(&f.path);
        let (dir, rel) = (s.cfg.previews_dir.clone(), f.path.clone());
        tokio::task::spawn_blocking(move || {
            tomoe_fits::preview::write_previews(&src, &dir, &rel)
                .map_err(|e| format!("{}: {e}", src.display()))
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    }
    let bytes = tokio::fs::read(&want).await.map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes,
    )
        .into_response())
}

async fn preview(
    State(s): State<Shared>,
    Path((year, night, file)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    png_for(s, year, night, file, false).await
}

async fn thumb(
    State(s): State<Shared>,
    Path((year, night, file)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    png_for(s, year, night, file, true).await
}

/// Checks the admin bearer token.
fn admin(s: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if s.cfg.admin_token.is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the admin API is disabled: set [web] admin_token (or TOMOE_WEB_ADMIN_TOKEN)",
        ));
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant-time comparison.
    let (a, b) = (given.as_bytes(), s.cfg.admin_token.as_bytes());
    let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
    if !same {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "admin API: missing or wrong bearer token",
        ));
    }
    Ok(())
}

fn blocklist_error(e: BlocklistError) -> ApiError {
    match e {
        BlocklistError::Invalid(m) => ApiError::bad(m),
        BlocklistError::NotFound(id) => ApiError::not_found(format!("no blocklist rule {id}")),
        other => ApiError::internal(other),
    }
}

/// After a blocklist change: rebuild the index now, so the change is in effect on return.
async fn refresh_now(s: &Shared) -> ApiResult<()> {
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || s2.refresh())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(())
}

async fn admin_list(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    admin(&s, &headers)?;
    let rules = s.blocklist.rules().map_err(blocklist_error)?;
    Ok(Json(rules).into_response())
}

async fn admin_add(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    admin(&s, &headers)?;
    let new: NewRule =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("rule body: {e}")))?;
    let s2 = s.clone();
    let rule = tokio::task::spawn_blocking(move || s2.blocklist.add(new))
        .await
        .map_err(ApiError::internal)?
        .map_err(blocklist_error)?;
    info!(rule = rule.id, author = %rule.author, "blocklist rule added");
    refresh_now(&s).await?;
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

async fn admin_remove(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    admin(&s, &headers)?;
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad(format!("rule id {id:?} is not a positive integer")))?;
    let by = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "by")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::bad("say who removes the rule: ?by=NAME"))?;
    let s2 = s.clone();
    let rule = tokio::task::spawn_blocking(move || s2.blocklist.remove(id, &by))
        .await
        .map_err(ApiError::internal)?
        .map_err(blocklist_error)?;
    info!(rule = rule.id, "blocklist rule removed");
    refresh_now(&s).await?;
    Ok(Json(rule).into_response())
}

async fn admin_audit(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    admin(&s, &headers)?;
    Ok(Json(s.blocklist.audit().map_err(blocklist_error)?).into_response())
}

/// Runs the server on `listener` until `shutdown` resolves, refreshing the index every
/// `refresh_interval_ms`; in-flight requests are finished before returning.
pub async fn serve(
    state: Shared,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let s2 = state.clone();
    let every = Duration::from_millis(state.cfg.refresh_interval_ms.max(100));
    let refresher = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let s3 = s2.clone();
            match tokio::task::spawn_blocking(move || s3.refresh()).await {
                Ok(Ok(r)) if r.nights_read > 0 => {
                    info!(
                        nights = r.nights_read,
                        exposures = r.exposures,
                        "index refreshed"
                    )
                }
                Ok(Err(e)) => warn!(error = %e, "index refresh failed; serving the previous one"),
                _ => {}
            }
        }
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let res = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    refresher.abort();
    res
}
