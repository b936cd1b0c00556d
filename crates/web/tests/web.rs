//! In-process tests of the web router: pages, API, bad parameters, downloads, previews, the
//! blocklist on every surface, the admin API, refused and rate-limited clients.

#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tomoe_core::time::UtcMicros;
use tomoe_sim::StackSim;
use tomoe_store::{ObsLog, ObsRow};
use tomoe_web::{router, AppState, WebConfig};
use tower::ServiceExt;

const TOKEN: &str = "s3cret-token";

/// One archived file of the fixture.
#[derive(Debug, Clone)]
struct Archived {
    exp_id: i64,
    rel: String,
    frame_id: String,
    disk: PathBuf,
}

struct Fixture {
    _dir: tempfile::TempDir,
    cfg: WebConfig,
    files: Vec<Archived>,
    sims: Vec<StackSim>,
}

fn archive(sim: &StackSim, root: &Path, log: &ObsLog, out: &mut Vec<Archived>) {
    for k in 0..sim.exposures {
        for c in 0..sim.chips {
            let h = sim.header(k, c);
            let t = tomoe_fits::TomoeHeader::from_header(&h, None);
            let night = t.observing_night().unwrap();
            let tmp = root.join("_tmp");
            std::fs::create_dir_all(&tmp).unwrap();
            let f = tomoe_sim::stacks::write_one(sim, &tmp, k, c).unwrap();
            let name = f.path.file_name().unwrap().to_str().unwrap().to_string();
            let rel = format!("{}/{}/{}", night.year, night, name);
            let disk = root.join(&rel);
            std::fs::create_dir_all(disk.parent().unwrap()).unwrap();
            std::fs::rename(&f.path, &disk).unwrap();
            let bytes = std::fs::read(&disk).unwrap();
            let sha = hex::encode(sha2::Sha256::digest(&bytes));
            let row = ObsRow::new(
                &h,
                &name,
                &rel,
                bytes.len() as u64,
                &sha,
                None,
                UtcMicros::now(),
            );
            log.append(std::slice::from_ref(&row)).unwrap();
            out.push(Archived {
                exp_id: row.header.exp_id.unwrap() as i64,
                rel,
                frame_id: f.frame_id.to_string(),
                disk,
            });
        }
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let cfg = WebConfig {
        archive_root: dir.path().join("archive"),
        obslog_root: dir.path().join("obslog"),
        blocklist_dir: dir.path().join("blocklist"),
        previews_dir: dir.path().join("previews"),
        admin_token: TOKEN.into(),
        rate_per_s: 10_000.0,
        rate_burst: 10_000.0,
        ..Default::default()
    };
    let log = ObsLog::open(&cfg.obslog_root).unwrap();
    let s1 = StackSim {
        exposures: 4,
        chips: 3,
        width: 64,
        height: 48,
        stars_per_chip: 2000,
        ..Default::default()
    };
    // A second campaign: another year, project and field.
    let s2 = StackSim {
        exposures: 2,
        chips: 2,
        width: 64,
        height: 48,
        start: UtcMicros::parse_iso("2024-03-04T14:00:00").unwrap(),
        first_exp_id: 9_000_000,
        field: (200.0, -30.0),
        project: "Secret Survey".into(),
        stars_per_chip: 2000,
        ..Default::default()
    };
    let mut files = Vec::new();
    archive(&s1, &cfg.archive_root, &log, &mut files);
    archive(&s2, &cfg.archive_root, &log, &mut files);
    Fixture {
        _dir: dir,
        cfg,
        files,
        sims: vec![s1, s2],
    }
}

fn app(cfg: &WebConfig) -> axum::Router {
    router(Arc::new(AppState::new(cfg.clone()).unwrap()))
}

async fn call(
    app: &axum::Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let (s, _, b) = call(app, Method::GET, uri, &[], "").await;
    (s, b)
}

async fn json(app: &axum::Router, uri: &str) -> serde_json::Value {
    let (s, b) = get(app, uri).await;
    assert_eq!(s, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&b));
    serde_json::from_slice(&b).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

mod api {
    use super::*;

    #[tokio::test]
    async fn pages_and_api_answer_with_the_archive() {
        let fx = fixture();
        let app = app(&fx.cfg);
        let e0 = fx.sims[0].first_exp_id as i64;
        // Years, newest first.
        let years = json(&app, "/api/years").await;
        assert_eq!(
            years,
            serde_json::json!([{"year": 2024, "exposures": 2}, {"year": 2023, "exposures": 4}])
        );
        let (s, h, _) = call(&app, Method::GET, "/archive", &[], "").await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(h[header::LOCATION], "/archive/2024");
        let (s, page) = get(&app, "/archive/2023").await;
        assert_eq!(s, StatusCode::OK);
        let page = text(&page);
        for needle in [
            "id=\"exposures\"",
            "data-year=\"2023\"",
            "class=\"colsearch\" data-col=\"object\"",
            "data-col=\"nfits\"",
            "data-col=\"fps\"",
            "/assets/dataTables.min.js",
        ] {
            assert!(page.contains(needle), "page lacks {needle}");
        }
        // Embedded assets: no CDN.
        assert!(!page.contains("http://") && !page.contains("https://"));
        let (s, js) = get(&app, "/assets/dataTables.min.js").await;
        assert_eq!(s, StatusCode::OK);
        assert!(text(&js).contains("DataTables"));
        // The JSON API.
        let all = json(&app, "/api/exposures?year=2023").await;
        assert_eq!(
            (all["total"].as_u64(), all["filtered"].as_u64()),
            (Some(4), Some(4))
        );
        let row = &all["rows"][3];
        assert_eq!(row["exp_id"].as_i64(), Some(e0));
        assert_eq!(row["nfits"].as_u64(), Some(3));
        assert_eq!(row["fps"].as_f64(), Some(f64::from(fx.sims[0].fps)));
        let some = json(&app, "/api/exposures?year=2023&object=dith3&order=exp_id").await;
        assert_eq!(some["filtered"].as_u64(), Some(1));
        assert_eq!(some["rows"][0]["exp_id"].as_i64(), Some(e0 + 2));
        let q = json(&app, "/api/exposures?q=secret").await;
        assert_eq!(q["filtered"].as_u64(), Some(2));
        // CSV.
        let (s, h, csv) = call(
            &app,
            Method::GET,
            "/api/exposures?year=2023&format=csv&order=exp_id",
            &[],
            "",
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let csv = text(&csv);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("exp_id,utc_start,night,object"));
        assert!(lines[1].starts_with(&format!("{e0},")));
        // DataTables protocol: draw echoed, column search, order by a column index.
        let dt = json(
            &app,
            "/api/dt/exposures?draw=7&start=0&length=2&year=2023&search%5Bvalue%5D=&\
             columns%5B0%5D%5Bdata%5D=exp_id&columns%5B0%5D%5Bsearch%5D%5Bvalue%5D=&\
             columns%5B1%5D%5Bdata%5D=object&columns%5B1%5D%5Bsearch%5D%5Bvalue%5D=DITH&\
             order%5B0%5D%5Bcolumn%5D=0&order%5B0%5D%5Bdir%5D=asc&_=123",
        )
        .await;
        assert_eq!(dt["draw"].as_u64(), Some(7));
        assert_eq!(dt["recordsTotal"].as_u64(), Some(4));
        assert_eq!(dt["recordsFiltered"].as_u64(), Some(4));
        let ids: Vec<i64> = dt["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["exp_id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [e0, e0 + 1]);
        // One exposure with its files.
        let one = json(&app, &format!("/api/exposures/{}", e0 + 1)).await;
        let files = one["files"].as_array().unwrap();
        assert_eq!(files.len(), 3);
        let f = &fx.files[3];
        assert_eq!(files[0]["frame_id"].as_str(), Some(f.frame_id.as_str()));
        assert_eq!(
            files[0]["download"].as_str().unwrap(),
            format!("/files/{}", f.rel)
        );
        let (s, page) = get(&app, &format!("/exposure/{}", e0 + 1)).await;
        assert_eq!(s, StatusCode::OK);
        let page = text(&page);
        assert!(page.contains(&f.frame_id) && page.contains(&format!("/thumbs/{}", f.rel)));
        // Header view.
        let (s, hdr) = get(&app, &format!("/api/files/{}/header", f.rel)).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            text(&hdr).contains(&format!("FRAME_ID= '{}'", f.frame_id))
                || text(&hdr).contains("EXP_ID")
        );
    }

    #[tokio::test]
    async fn openapi_describes_every_route() {
        let fx = fixture();
        let app = app(&fx.cfg);
        let doc = json(&app, "/api/openapi.json").await;
        assert_eq!(doc["openapi"].as_str(), Some("3.0.3"));
        for p in [
            "/api/years",
            "/api/exposures",
            "/api/dt/exposures",
            "/api/exposures/{exp_id}",
            "/api/files/{year}/{night}/{file}/header",
            "/files/{year}/{night}/{file}",
            "/previews/{year}/{night}/{file}",
            "/thumbs/{year}/{night}/{file}",
            "/api/admin/blocklist",
            "/api/admin/blocklist/{id}",
            "/api/admin/audit",
            "/scs",
            "/scs/capabilities",
            "/api/lc/cone",
            "/api/lc/objects/{id}",
            "/api/lc/fields/{exp_id}/{det_id}",
            "/api/lc/movers",
            "/api/lc/calibration",
            "/api/lc/nearest",
        ] {
            assert!(doc["paths"][p].is_object(), "OpenAPI lacks {p}");
        }
    }

    #[tokio::test]
    async fn bad_parameters_are_clear_4xx_never_500() {
        let fx = fixture();
        let app = app(&fx.cfg);
        let f = &fx.files[0];
        let night_dir = f.rel.rsplit_once('/').unwrap().0.to_string();
        let cases: Vec<(String, StatusCode, &str)> = vec![
            ("/api/dt/exposures?columns%5B0%5D%5Bdata%5D=nope".into(), StatusCode::BAD_REQUEST, "unknown column"),
            ("/api/dt/exposures?start=-5".into(), StatusCode::BAD_REQUEST, "start=-5"),
            ("/api/dt/exposures?length=100000000".into(), StatusCode::BAD_REQUEST, "length=100000000"),
            ("/api/dt/exposures?length=-1".into(), StatusCode::BAD_REQUEST, "length=-1"),
            ("/api/dt/exposures?draw=x".into(), StatusCode::BAD_REQUEST, "draw"),
            ("/api/dt/exposures?order%5B0%5D%5Bcolumn%5D=0&order%5B0%5D%5Bdir%5D=sideways&columns%5B0%5D%5Bdata%5D=exp_id".into(), StatusCode::BAD_REQUEST, "asc or desc"),
            ("/api/dt/exposures?order%5B0%5D%5Bcolumn%5D=5".into(), StatusCode::BAD_REQUEST, "unknown column index 5"),
            ("/api/dt/exposures?columns%5B999%5D%5Bdata%5D=object".into(), StatusCode::BAD_REQUEST, "0–63"),
            ("/api/dt/exposures?columns%5B0".into(), StatusCode::BAD_REQUEST, "malformed"),
            ("/api/exposures?exptime=abc".into(), StatusCode::BAD_REQUEST, "exptime"),
            ("/api/exposures?utc_start=yesterday".into(), StatusCode::BAD_REQUEST, "utc_start"),
            ("/api/exposures?frobnicate=1".into(), StatusCode::BAD_REQUEST, "unknown parameter"),
            ("/api/exposures?order=-password".into(), StatusCode::BAD_REQUEST, "unknown column"),
            ("/api/exposures?year=abc".into(), StatusCode::BAD_REQUEST, "year"),
            ("/api/exposures?format=xml".into(), StatusCode::BAD_REQUEST, "json or csv"),
            (format!("/api/exposures?q={}", "x".repeat(300)), StatusCode::BAD_REQUEST, "200"),
            ("/api/exposures/-5".into(), StatusCode::BAD_REQUEST, "non-negative"),
            ("/api/exposures/abc".into(), StatusCode::BAD_REQUEST, "non-negative"),
            ("/api/exposures/12345".into(), StatusCode::NOT_FOUND, "no exposure"),
            ("/exposure/abc".into(), StatusCode::BAD_REQUEST, "non-negative"),
            ("/archive/20x3".into(), StatusCode::BAD_REQUEST, "not a year"),
            (format!("/files/{night_dir}/..%2F..%2Fobslog%2F_lock"), StatusCode::BAD_REQUEST, "not an archive file name"),
            (format!("/files/{night_dir}/.hidden"), StatusCode::BAD_REQUEST, "not an archive file name"),
            ("/files/2023/..%2F..%2Fetc/passwd".into(), StatusCode::BAD_REQUEST, "YYYY-MM-DD"),
            ("/files/2099/2023-01-02/x.fits".into(), StatusCode::BAD_REQUEST, "does not match"),
            (format!("/files/{night_dir}/nothere.fits"), StatusCode::NOT_FOUND, "no archived file"),
            ("/thumbs/2023/2023-99-01/x.fits".into(), StatusCode::BAD_REQUEST, "YYYY-MM-DD"),
            ("/no/such/page".into(), StatusCode::NOT_FOUND, "no such page"),
        ];
        for (uri, status, needle) in cases {
            let (s, b) = get(&app, &uri).await;
            let t = text(&b);
            assert_eq!(s, status, "{uri}: {t}");
            assert!(t.contains(needle), "{uri}: {t:?} lacks {needle:?}");
        }
        // SQL-looking input is a plain search: 200, no rows, nothing else happens.
        for uri in [
            "/api/exposures?q=%27%3B%20DROP%20TABLE%20obslog%3B%20--",
            "/api/exposures?object=%27%20OR%20%271%27%3D%271",
            "/api/dt/exposures?search%5Bvalue%5D=1%27%20OR%201%3D1&columns%5B0%5D%5Bdata%5D=exp_id",
        ] {
            let v = json(&app, uri).await;
            let n = v.get("filtered").or(v.get("recordsFiltered")).unwrap();
            assert_eq!(n.as_u64(), Some(0), "{uri}");
        }
        assert_eq!(
            json(&app, "/api/exposures").await["total"].as_u64(),
            Some(6)
        );
    }

    #[tokio::test]
    async fn downloads_are_the_original_bytes_with_length_and_range() {
        let fx = fixture();
        let app = app(&fx.cfg);
        let f = &fx.files[4];
        let original = std::fs::read(&f.disk).unwrap();
        let uri = format!("/files/{}", f.rel);
        let (s, h, b) = call(&app, Method::GET, &uri, &[], "").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b, original);
        assert_eq!(
            h[header::CONTENT_LENGTH],
            original.len().to_string().as_str()
        );
        assert!(h[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(".fits"));
        let (s, h, b) = call(&app, Method::GET, &uri, &[("range", "bytes=2880-2889")], "").await;
        assert_eq!(s, StatusCode::PARTIAL_CONTENT);
        assert_eq!(b, &original[2880..2890]);
        assert_eq!(h[header::CONTENT_LENGTH], "10");
        let (s, h, b) = call(&app, Method::HEAD, &uri, &[], "").await;
        assert_eq!(s, StatusCode::OK);
        assert!(b.is_empty());
        assert_eq!(
            h[header::CONTENT_LENGTH],
            original.len().to_string().as_str()
        );
    }

    #[tokio::test]
    async fn previews_and_thumbnails_are_png_made_once() {
        let fx = fixture();
        let app = app(&fx.cfg);
        let f = &fx.files[0];
        for (kind, max) in [("previews", 1000u32), ("thumbs", 200)] {
            let (s, h, b) = call(&app, Method::GET, &format!("/{kind}/{}", f.rel), &[], "").await;
            assert_eq!(s, StatusCode::OK, "{kind}: {}", text(&b));
            assert_eq!(h[header::CONTENT_TYPE], "image/png");
            let r = png::Decoder::new(std::io::Cursor::new(b))
                .read_info()
                .unwrap();
            let (w, hh) = (r.info().width, r.info().height);
            assert!(w <= max && hh <= max && w > 0, "{kind} {w}x{hh}");
        }
        assert!(fx.cfg.previews_dir.join(format!("{}.png", f.rel)).is_file());
        assert!(fx
            .cfg
            .previews_dir
            .join(format!("{}.thumb.png", f.rel))
            .is_file());
    }
}

mod blocklist {
    use super::*;

    async fn admin(
        app: &axum::Router,
        method: Method,
        uri: &str,
        body: &str,
    ) -> (StatusCode, serde_json::Value) {
        let auth = format!("Bearer {TOKEN}");
        let (s, _, b) = call(
            app,
            method,
            uri,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await;
        (
            s,
            serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
        )
    }

    /// What every public surface shows of one file and its exposure.
    #[derive(Debug, PartialEq)]
    struct Seen {
        exposure_in_year_list: bool,
        exposure_api: StatusCode,
        exposure_page: StatusCode,
        nfits: Option<u64>,
        file_listed: bool,
        download: StatusCode,
        thumb: StatusCode,
        header: StatusCode,
        global_search_hits: u64,
        year_count: u64,
    }

    async fn seen(app: &axum::Router, f: &Archived, year: i32) -> Seen {
        let list = json(app, &format!("/api/exposures?year={year}&length=1000")).await;
        let row = list["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["exp_id"].as_i64() == Some(f.exp_id))
            .cloned();
        let (ea, eb) = get(app, &format!("/api/exposures/{}", f.exp_id)).await;
        let file_listed = ea == StatusCode::OK
            && serde_json::from_slice::<serde_json::Value>(&eb).unwrap()["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["frame_id"].as_str() == Some(f.frame_id.as_str()));
        let dt = json(
            app,
            &format!(
                "/api/dt/exposures?year={year}&columns%5B0%5D%5Bdata%5D=exp_id&columns%5B0%5D%5Bsearch%5D%5Bvalue%5D={}",
                f.exp_id
            ),
        )
        .await;
        let years = json(app, "/api/years").await;
        let year_count = years
            .as_array()
            .unwrap()
            .iter()
            .find(|y| y["year"].as_i64() == Some(i64::from(year)))
            .map_or(0, |y| y["exposures"].as_u64().unwrap());
        Seen {
            exposure_in_year_list: row.is_some(),
            exposure_api: ea,
            exposure_page: get(app, &format!("/exposure/{}", f.exp_id)).await.0,
            nfits: row.map(|r| r["nfits"].as_u64().unwrap()),
            file_listed,
            download: get(app, &format!("/files/{}", f.rel)).await.0,
            thumb: get(app, &format!("/thumbs/{}", f.rel)).await.0,
            header: get(app, &format!("/api/files/{}/header", f.rel)).await.0,
            global_search_hits: dt["recordsFiltered"].as_u64().unwrap(),
            year_count,
        }
    }

    #[tokio::test]
    async fn every_rule_kind_hides_data_everywhere_until_removed() {
        let fx = fixture();
        let app = app(&fx.cfg);
        let s1 = &fx.sims[0];
        // exposure k = 1 of the first campaign, chip 1 (files are in (k, c) order, 3 chips)
        let victim = fx.files[3 + 1].clone();
        let other_chip = fx.files[3].clone();
        let t1 = s1.start.add_seconds(s1.cadence());
        let t1_iso = t1.to_iso();
        let t1_end = t1.add_seconds(1.0).to_iso();
        let second = fx.files[12].clone(); // first file of the second campaign (2024)
        let visible = seen(&app, &victim, 2023).await;
        assert!(visible.exposure_in_year_list && visible.file_listed);
        assert_eq!(visible.nfits, Some(3));
        assert_eq!(
            (
                visible.download,
                visible.thumb,
                visible.header,
                visible.exposure_page
            ),
            (
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::OK
            )
        );
        let rules: Vec<(String, &Archived, i32, bool)> = vec![
            // (rule, file to check, its year, whole exposure hidden?)
            (
                format!(r#"{{"kind":"frame_id","frame_id":"{}"}}"#, victim.frame_id),
                &victim,
                2023,
                false,
            ),
            (
                format!(r#"{{"kind":"exp_id","exp_id":{}}}"#, victim.exp_id),
                &victim,
                2023,
                true,
            ),
            (
                r#"{"kind":"object","pattern":"*_DITH2"}"#.to_string(),
                &victim,
                2023,
                true,
            ),
            (
                r#"{"kind":"project","project":"secret survey"}"#.to_string(),
                &second,
                2024,
                true,
            ),
            (
                format!(r#"{{"kind":"time","from":"{t1_iso}","to":"{t1_end}"}}"#),
                &victim,
                2023,
                true,
            ),
            (
                r#"{"kind":"cone","ra":200.0,"dec":-30.0,"radius":5.0}"#.to_string(),
                &second,
                2024,
                true,
            ),
        ];
        for (rule, f, year, whole) in rules {
            let before = seen(&app, f, year).await;
            let body = format!(
                r#"{{{} ,"reason":"test {}","author":"ci","no_fetch":false}}"#,
                &rule[1..rule.len() - 1],
                f.frame_id
            );
            let (s, r) = admin(&app, Method::POST, "/api/admin/blocklist", &body).await;
            assert_eq!(s, StatusCode::CREATED, "{rule}: {r}");
            let id = r["id"].as_u64().unwrap();
            let hidden = seen(&app, f, year).await;
            // The file is gone from every surface.
            assert!(!hidden.file_listed, "{rule}: {hidden:?}");
            for (what, st) in [
                ("download", hidden.download),
                ("thumb", hidden.thumb),
                ("header", hidden.header),
            ] {
                assert_eq!(st, StatusCode::NOT_FOUND, "{rule}: {what}");
            }
            if whole {
                assert!(!hidden.exposure_in_year_list, "{rule}");
                assert_eq!(hidden.exposure_api, StatusCode::NOT_FOUND, "{rule}");
                assert_eq!(hidden.exposure_page, StatusCode::NOT_FOUND, "{rule}");
                assert_eq!(hidden.global_search_hits, 0, "{rule}");
                assert!(hidden.year_count < before.year_count, "{rule}");
            } else {
                // One chip file: the exposure stays with one file fewer; its siblings stay.
                assert_eq!(hidden.nfits, Some(2), "{rule}");
                assert_eq!(
                    get(&app, &format!("/files/{}", other_chip.rel)).await.0,
                    StatusCode::OK
                );
            }
            let (s, _) = admin(
                &app,
                Method::DELETE,
                &format!("/api/admin/blocklist/{id}?by=ci"),
                "",
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(
                seen(&app, f, year).await,
                before,
                "{rule}: not back after removal"
            );
        }
        // Every change is in the audit log.
        let (s, audit) = admin(&app, Method::GET, "/api/admin/audit", "").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(audit.as_array().unwrap().len(), 12);
    }

    #[tokio::test]
    async fn admin_calls_need_the_token() {
        let fx = fixture();
        let app = app(&fx.cfg);
        let body = r#"{"kind":"exp_id","exp_id":1,"reason":"r","author":"a"}"#;
        for (hdrs, status) in [
            (vec![], StatusCode::UNAUTHORIZED),
            (
                vec![("authorization", "Bearer wrong")],
                StatusCode::UNAUTHORIZED,
            ),
            (
                vec![("authorization", "Basic czNjcmV0")],
                StatusCode::UNAUTHORIZED,
            ),
        ] {
            let (s, _, _) = call(&app, Method::POST, "/api/admin/blocklist", &hdrs, body).await;
            assert_eq!(s, status);
            let (s, _, _) = call(&app, Method::GET, "/api/admin/blocklist", &hdrs, "").await;
            assert_eq!(s, status);
            let (s, _, _) = call(
                &app,
                Method::DELETE,
                "/api/admin/blocklist/1?by=x",
                &hdrs,
                "",
            )
            .await;
            assert_eq!(s, status);
        }
        // Nothing was added by the refused calls.
        let (s, rules) = admin(&app, Method::GET, "/api/admin/blocklist", "").await;
        assert_eq!((s, rules), (StatusCode::OK, serde_json::json!([])));
        // Invalid rules are 400 with the reason.
        for (bad, needle) in [
            (
                r#"{"kind":"cone","ra":10,"dec":95,"radius":1,"reason":"r","author":"a"}"#,
                "dec 95",
            ),
            (
                r#"{"kind":"exp_id","exp_id":1,"reason":"","author":"a"}"#,
                "reason",
            ),
            (
                r#"{"kind":"planet","reason":"r","author":"a"}"#,
                "rule body",
            ),
            ("not json", "rule body"),
        ] {
            let (s, v) = admin(&app, Method::POST, "/api/admin/blocklist", bad).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
            assert!(v["error"].as_str().unwrap().contains(needle), "{bad}: {v}");
        }
        let (s, _) = admin(&app, Method::DELETE, "/api/admin/blocklist/77?by=x", "").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, v) = admin(&app, Method::DELETE, "/api/admin/blocklist/1", "").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["error"].as_str().unwrap().contains("by="));
        // Without a configured token the admin API is off.
        let off = tomoe_web::WebConfig {
            admin_token: String::new(),
            ..fx.cfg.clone()
        };
        let app2 = super::app(&off);
        let (s, v) = admin(&app2, Method::GET, "/api/admin/blocklist", "").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(v["error"].as_str().unwrap().contains("disabled"));
    }

    #[tokio::test]
    async fn refused_addresses_and_rate_limits() {
        let fx = fixture();
        let denied = WebConfig {
            deny: vec!["127.0.0.0/8".into()],
            ..fx.cfg.clone()
        };
        let (s, b) = get(&app(&denied), "/api/years").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(text(&b).contains("refused"));
        let slow = WebConfig {
            rate_per_s: 0.5,
            rate_burst: 3.0,
            ..fx.cfg.clone()
        };
        let app = app(&slow);
        for _ in 0..3 {
            assert_eq!(get(&app, "/api/years").await.0, StatusCode::OK);
        }
        let (s, h, _) = call(&app, Method::GET, "/api/years", &[], "").await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h[header::RETRY_AFTER], "1");
        // Health checks are never limited.
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        // A bad deny entry is a configuration error.
        let bad = WebConfig {
            deny: vec!["10.0.0.0/99".into()],
            ..fx.cfg.clone()
        };
        assert!(AppState::new(bad)
            .unwrap_err()
            .to_string()
            .contains("prefix"));
    }
}
