//! HTML pages. Small templates in Rust (no template engine needed for three pages); every
//! value from the archive is HTML-escaped.

use crate::{exposure_files, parse_exp_id, ApiError, Shared};
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use tomoe_store::exposures::Column;

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

pub(crate) fn layout(title: &str, body: &str) -> Html<String> {
    layout_with(title, body, "")
}

/// The page frame; `head` is added to the `<head>` (extra scripts).
pub(crate) fn layout_with(title: &str, body: &str, head: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t} — Tomo-e Gozen archive</title>
<link rel="stylesheet" href="/assets/dataTables.dataTables.min.css">
<link rel="stylesheet" href="/assets/style.css">
<script src="/assets/jquery.min.js"></script>
<script src="/assets/dataTables.min.js"></script>
<script src="/assets/app.js"></script>
{head}
</head><body>
<header><a class="home" href="/archive">Tomo-e Gozen archive</a> <a class="nav" href="/lc">Light curves</a> <span class="site">Kiso Observatory</span></header>
<main>
{body}
</main>
<footer>API: <a href="/api/openapi.json">OpenAPI description</a> · <a href="/api/years">years</a></footer>
</body></html>"#,
        t = esc(title)
    ))
}

pub(crate) fn html_error(e: ApiError) -> Response {
    let status = e.status;
    let mut r = layout(
        &format!("{}", status.as_u16()),
        &format!("<h1>{}</h1><p>{}</p>", status, esc(&e.message)),
    )
    .into_response();
    *r.status_mut() = status;
    r
}

pub(crate) async fn archive_latest(State(s): State<Shared>) -> Response {
    let latest = {
        let g = s.indexed.read().unwrap_or_else(|e| e.into_inner());
        g.index.years().first().map(|y| y.0)
    };
    match latest {
        Some(y) => Redirect::to(&format!("/archive/{y}")).into_response(),
        None => layout(
            "Archive",
            "<h1>Archive</h1><p>Nothing has been archived yet.</p>",
        )
        .into_response(),
    }
}

pub(crate) async fn archive_year(State(s): State<Shared>, Path(year): Path<String>) -> Response {
    let Some(y) = year
        .parse::<i32>()
        .ok()
        .filter(|y| (1900..=9999).contains(y))
    else {
        return html_error(ApiError::bad(format!("{year:?} is not a year")));
    };
    let years = {
        let g = s.indexed.read().unwrap_or_else(|e| e.into_inner());
        g.index.years()
    };
    let tabs: String = years
        .iter()
        .map(|(yy, n)| {
            let cls = if *yy == y { " class=\"current\"" } else { "" };
            format!("<li><a{cls} href=\"/archive/{yy}\">{yy} <small>({n})</small></a></li>")
        })
        .collect();
    let titles = [
        ("exp_id", "Exposure"),
        ("utc_start", "Start (UTC)"),
        ("object", "Object"),
        ("project", "Project"),
        ("observer", "Observer"),
        ("data_typ", "Type"),
        ("exptime", "Exp. time [s]"),
        ("n_frames", "Frames"),
        ("fps", "FPS"),
        ("nfits", "nFits"),
        ("ra_tel", "RA [deg]"),
        ("dec_tel", "Dec [deg]"),
    ];
    debug_assert!(titles.iter().all(|(c, _)| Column::parse(c).is_some()));
    let head: String = titles
        .iter()
        .map(|(c, t)| format!("<th data-col=\"{c}\">{t}</th>"))
        .collect();
    let search: String = titles
        .iter()
        .map(|(c, t)| {
            format!(
                "<th><input class=\"colsearch\" data-col=\"{c}\" type=\"search\" placeholder=\"{t}\" aria-label=\"search {t}\"></th>"
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Exposures of {y}</h1>
<nav><ul class="years">{tabs}</ul></nav>
<p class="hint">Search boxes: text columns match a part of the value; numbers take <code>5</code>, <code>&gt;5</code>, <code>&lt;=2.5</code> or <code>1..10</code>; the start time takes a prefix such as <code>2023-01-02T12</code> or a range <code>2023-01-02..2023-01-03</code>.</p>
<table id="exposures" class="display compact" data-year="{y}" style="width:100%">
<thead><tr>{head}</tr><tr class="filters">{search}</tr></thead>
<tbody></tbody>
</table>"#
    );
    layout(&format!("Exposures {y}"), &body).into_response()
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_default()
}

pub(crate) async fn exposure_page(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let exp_id = match parse_exp_id(&id) {
        Ok(v) => v,
        Err(e) => return html_error(e),
    };
    let (e, files) = match exposure_files(&s, exp_id).await {
        Ok(v) => v,
        Err(e) => return html_error(e),
    };
    let rows: String = files
        .iter()
        .map(|f| {
            let p = esc(&f.path);
            format!(
                "<tr><td>{det}</td><td>{fid}</td><td><a href=\"/previews/{p}\"><img class=\"thumb\" loading=\"lazy\" src=\"/thumbs/{p}\" alt=\"thumbnail of {fid}\"></a></td>\
<td><a href=\"/files/{p}\" download>{name}</a></td><td>{size}</td><td><code title=\"{sha}\">{sha_short}</code></td>\
<td><a href=\"/api/files/{p}/header\">header</a></td><td>{ra}</td><td>{dec}</td></tr>",
                det = f.det_id.map(|d| d.to_string()).unwrap_or_default(),
                fid = esc(&f.frame_id),
                name = esc(&f.file_name),
                size = f.size,
                sha = esc(&f.sha256),
                sha_short = esc(&f.sha256.chars().take(12).collect::<String>()),
                ra = fmt_opt(f.wcs_ra, 5),
                dec = fmt_opt(f.wcs_dec, 5),
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Exposure {id}</h1>
<p><a href="/archive/{year}">← {year}</a> · <a href="/api/exposures/{id}">JSON</a></p>
<dl class="facts">
<dt>Start (UTC)</dt><dd>{utc}</dd><dt>Night</dt><dd>{night}</dd>
<dt>Object</dt><dd>{object}</dd><dt>Project</dt><dd>{project}</dd><dt>Observer</dt><dd>{observer}</dd>
<dt>Type</dt><dd>{typ}</dd><dt>Exposure time</dt><dd>{exptime} s</dd><dt>Frames</dt><dd>{frames}</dd>
<dt>FPS</dt><dd>{fps}</dd><dt>nFits</dt><dd>{nfits}</dd><dt>Pointing</dt><dd>{ra} {dec}</dd>
</dl>
<table id="files" class="display compact"><thead><tr><th>DET_ID</th><th>Frame ID</th><th>Preview</th><th>Download</th><th>Bytes</th><th>SHA-256</th><th>Header</th><th>RA centre</th><th>Dec centre</th></tr></thead>
<tbody>{rows}</tbody></table>"#,
        id = e.exp_id,
        year = e.year,
        utc = esc(e.utc_start.as_deref().unwrap_or("")),
        night = esc(&e.night),
        object = esc(&e.object),
        project = esc(&e.project),
        observer = esc(&e.observer),
        typ = esc(&e.data_typ),
        exptime = fmt_opt(e.exptime, 3),
        frames = e.n_frames.map(|v| v.to_string()).unwrap_or_default(),
        fps = fmt_opt(e.fps, 2),
        nfits = e.nfits,
        ra = fmt_opt(e.ra_tel, 5),
        dec = fmt_opt(e.dec_tel, 5),
    );
    layout(&format!("Exposure {}", e.exp_id), &body).into_response()
}
