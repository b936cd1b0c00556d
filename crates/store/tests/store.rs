//! Integration tests of the observation log: append, query, the exposures view, sealing.

#![allow(clippy::unwrap_used)]

use tomoe_core::time::{CivilDate, UtcMicros};
use tomoe_sim::StackSim;
use tomoe_store::format::{write_batches, OutputFormat};
use tomoe_store::{ObsLog, ObsLogQuery, ObsRow};

fn rows(sim: &StackSim, exposures: std::ops::Range<usize>, chips: usize) -> Vec<ObsRow> {
    let mut out = Vec::new();
    for k in exposures {
        for c in 0..chips {
            let h = sim.header(k, c);
            let name = format!("s{}.fits", sim.frame_id(k, c));
            out.push(ObsRow::new(
                &h,
                &name,
                &name,
                1000 + c as u64,
                "ab",
                None,
                UtcMicros::parse_iso("2024-01-01T00:00:00").unwrap(),
            ));
        }
    }
    out
}

async fn table(q: &ObsLogQuery, sql: &str) -> String {
    let (schema, batches) = q.sql(sql).await.unwrap();
    let mut out = Vec::new();
    write_batches(&mut out, &schema, &batches, OutputFormat::Table).unwrap();
    String::from_utf8(out).unwrap()
}

fn sim() -> StackSim {
    StackSim {
        width: 16,
        height: 16,
        ..Default::default()
    }
}

#[tokio::test]
async fn append_query_and_exposures_view() {
    let dir = tempfile::tempdir().unwrap();
    let log = ObsLog::open(dir.path().join("obslog")).unwrap();
    let q = ObsLogQuery::new(&log).await.unwrap();
    // Empty log: the query works and returns no rows.
    assert!(table(&q, "SELECT count(*) AS n FROM obslog")
        .await
        .contains("| 0 |"));

    let s = sim();
    log.append(&rows(&s, 0..2, 3)).unwrap();
    // Rows are visible right away, with partition columns from the path.
    let t = table(
        &q,
        "SELECT year, night, exp_id, count(*) AS n FROM obslog GROUP BY 1, 2, 3 ORDER BY exp_id",
    )
    .await;
    assert_eq!(
        t.trim(),
        "+------+------------+--------+---+
| year | night      | exp_id | n |
+------+------------+--------+---+
| 2023 | 2023-01-02 | 860262 | 3 |
| 2023 | 2023-01-02 | 860263 | 3 |
+------+------------+--------+---+"
    );
    log.append(&rows(&s, 2..3, 1)).unwrap();
    let t = table(
        &q,
        "SELECT exp_id, fps, nfits, n_frames, object FROM exposures ORDER BY exp_id",
    )
    .await;
    assert_eq!(
        t.trim(),
        "+--------+-----+-------+----------+------------------+
| exp_id | fps | nfits | n_frames | object           |
+--------+-----+-------+----------+------------------+
| 860262 | 2.0 | 3     | 18       | J0322+5925_dith1 |
| 860263 | 2.0 | 3     | 18       | J0322+5925_dith2 |
| 860264 | 2.0 | 1     | 18       | J0322+5925_dith3 |
+--------+-----+-------+----------+------------------+"
    );
    // Typed columns and the verbatim header.
    let t = table(
        &q,
        "SELECT frame_id, det_id, utc_start FROM obslog WHERE det_id = 112 AND exp_id = 860262",
    )
    .await;
    assert!(
        t.contains("TMQ1202301020086026212") && t.contains("2023-01-02T09:48:14.665023Z"),
        "{t}"
    );
    let t = table(
        &q,
        "SELECT count(*) AS n FROM obslog WHERE header LIKE '%TRLSTEP1=%'",
    )
    .await;
    assert!(t.contains("| 7 |"), "{t}");
}

#[tokio::test]
async fn seal_compacts_dedups_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let log = ObsLog::open(dir.path().join("obslog")).unwrap();
    let s = sim();
    for k in 0..4 {
        log.append(&rows(&s, k..k + 1, 2)).unwrap();
    }
    // A re-delivered row (same file_name) in a separate part.
    log.append(&rows(&s, 1..2, 1)).unwrap();
    let night = CivilDate::parse("2023-01-02").unwrap();
    let before = log.nights().unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].files, 5);
    assert!(!before[0].sealed);
    let rep = log.seal(night).unwrap();
    assert_eq!(
        (
            rep.parts_in,
            rep.rows,
            rep.duplicates_dropped,
            rep.already_sealed
        ),
        (5, 8, 1, false)
    );
    let after = log.nights().unwrap();
    assert!(after[0].sealed && after[0].files == 1);
    assert!(log.seal(night).unwrap().already_sealed);
    assert_eq!(log.names_in_night(night).unwrap().len(), 8);
    let q = ObsLogQuery::new(&log).await.unwrap();
    let t = table(&q, "SELECT exp_id, nfits FROM exposures ORDER BY exp_id").await;
    assert!(t.contains("| 860263 | 2     |"), "{t}");
    // Unknown night: a clear error.
    let err = log
        .seal(CivilDate::parse("2020-01-01").unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("2020-01-01"), "{err}");
    // No staging left behind.
    assert!(!dir
        .path()
        .join("obslog/_staging")
        .join("night=2023-01-02")
        .exists());
}

#[tokio::test]
async fn crash_leftovers_are_ignored_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("obslog");
    let log = ObsLog::open(&root).unwrap();
    log.append(&rows(&sim(), 0..1, 2)).unwrap();
    let ndir = root.join("year=2023/night=2023-01-02");
    // A half-written part from a crash, and a half-done seal.
    std::fs::write(ndir.join(".part-x.parquet.123.tmp"), b"PAR1garbage").unwrap();
    std::fs::create_dir_all(root.join("_staging/night=2023-01-02")).unwrap();
    std::fs::write(
        root.join("_staging/night=2023-01-02/sealed.parquet"),
        b"junk",
    )
    .unwrap();
    let q = ObsLogQuery::new(&log).await.unwrap();
    assert!(table(&q, "SELECT count(*) AS n FROM obslog")
        .await
        .contains("| 2 |"));
    let log = ObsLog::open(&root).unwrap();
    assert!(!root.join("_staging").exists());
    assert_eq!(std::fs::read_dir(&ndir).unwrap().count(), 1);
    assert_eq!(log.all_names().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_sql_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = ObsLog::open(dir.path().join("obslog")).unwrap();
    let q = ObsLogQuery::new(&log).await.unwrap();
    let err = q
        .sql("SELECT nope FROM obslog")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
    assert!(q.sql("SELEC").await.is_err());
}

#[tokio::test]
async fn output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let log = ObsLog::open(dir.path().join("obslog")).unwrap();
    log.append(&rows(&sim(), 0..1, 2)).unwrap();
    let q = ObsLogQuery::new(&log).await.unwrap();
    let (schema, b) = q
        .sql("SELECT det_id, object FROM obslog ORDER BY det_id")
        .await
        .unwrap();
    let render = |f| {
        let mut out = Vec::new();
        write_batches(&mut out, &schema, &b, f).unwrap();
        out
    };
    assert_eq!(
        String::from_utf8(render(OutputFormat::Csv)).unwrap(),
        "det_id,object\n111,J0322+5925_dith1\n112,J0322+5925_dith1\n"
    );
    let json: serde_json::Value = serde_json::from_slice(&render(OutputFormat::Json)).unwrap();
    assert_eq!(json[1]["det_id"], 112);
    let pq = render(OutputFormat::Parquet);
    assert_eq!(&pq[..4], b"PAR1");
    let (schema, b) = q
        .sql("SELECT det_id FROM obslog WHERE det_id < 0")
        .await
        .unwrap();
    let mut out = Vec::new();
    write_batches(&mut out, &schema, &b, OutputFormat::Json).unwrap();
    assert_eq!(String::from_utf8(out).unwrap().trim(), "[]");
}

/// pyarrow and DuckDB (installed by scripts/test.sh) open the log as it is, one night sealed
/// and one still in parts, and agree with our SQL.
#[tokio::test]
async fn pyarrow_and_duckdb_read_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("obslog");
    let log = ObsLog::open(&root).unwrap();
    let s = sim();
    log.append(&rows(&s, 0..2, 3)).unwrap();
    log.append(&rows(&s, 2..3, 3)).unwrap();
    log.seal(CivilDate::parse("2023-01-02").unwrap()).unwrap();
    let later = StackSim {
        start: UtcMicros::parse_iso("2024-03-05T12:00:00").unwrap(),
        first_exp_id: 990_000,
        ..sim()
    };
    log.append(&rows(&later, 0..1, 2)).unwrap();
    log.append(&rows(&later, 1..2, 2)).unwrap();
    let q = ObsLogQuery::new(&log).await.unwrap();
    let ours = table(&q, "SELECT count(*) AS n, sum(size) AS s FROM obslog").await;
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/check_obslog_readers.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&root)
        .output()
        .expect("python3 (installed by scripts/test.sh)");
    assert!(
        out.status.success(),
        "python readers failed (run scripts/test.sh to install pyarrow and duckdb): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let size_sum = (1000 + 1001 + 1002) * 3 + (1000 + 1001) * 2;
    assert!(ours.contains(&format!("| 13 | {size_sum} |")), "{ours}");
    assert_eq!(v["pyarrow"]["rows"], 13);
    assert_eq!(v["pyarrow"]["size_sum"], size_sum);
    assert_eq!(
        v["pyarrow"]["nights"],
        serde_json::json!(["2023-01-02", "2024-03-05"])
    );
    assert_eq!(
        v["pyarrow"]["exp_ids"],
        serde_json::json!([860262, 860263, 860264, 990000, 990001])
    );
    assert_eq!(v["duckdb"]["rows"], 13);
    assert_eq!(v["duckdb"]["size_sum"], size_sum);
    assert_eq!(v["duckdb"]["nights"], 2);
    assert_eq!(v["duckdb"]["min_year"], 2023);
}

mod exposures {
    use super::*;
    use tomoe_store::blocklist::{Blocklist, NewRule, RuleKind, RuleSet};
    use tomoe_store::exposures::{Column, ExposureIndex, ExposureQuery, Filter};

    fn q(filters: &[(&str, &str)]) -> ExposureQuery {
        ExposureQuery {
            filters: filters
                .iter()
                .map(|(c, t)| {
                    let c = Column::parse(c).unwrap();
                    (c, Filter::parse(c, t).unwrap().unwrap())
                })
                .collect(),
            length: 100,
            ..Default::default()
        }
    }

    fn ids(idx: &ExposureIndex, query: &ExposureQuery) -> Vec<i64> {
        idx.query(query).rows.iter().map(|e| e.exp_id).collect()
    }

    #[test]
    fn aggregates_searches_sorts_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let log = ObsLog::open(dir.path().join("obslog")).unwrap();
        let s = sim();
        log.append(&rows(&s, 0..5, 4)).unwrap();
        // A duplicate row of a file (an unsealed night may hold one) is counted once.
        log.append(&rows(&s, 0..1, 1)).unwrap();
        let mut idx = ExposureIndex::new();
        let r = idx.refresh(&log, &RuleSet::default(), false).unwrap();
        assert_eq!((r.nights_read, r.exposures, r.chip_rows), (1, 5, 21));
        let e0 = s.first_exp_id as i64;
        let all = idx.query(&q(&[]));
        assert_eq!((all.total, all.filtered), (5, 5));
        // Default order: newest first.
        assert_eq!(
            all.rows.iter().map(|e| e.exp_id).collect::<Vec<_>>(),
            (0..5).rev().map(|k| e0 + k).collect::<Vec<_>>()
        );
        assert!(all.rows.iter().all(|e| e.nfits == 4));
        assert_eq!(all.rows[4].bytes, 1000 + 1001 + 1002 + 1003);
        assert_eq!(all.rows[0].fps, Some(f64::from(s.fps)));
        // Column searches: object (case-insensitive substring), numbers, time prefix.
        assert_eq!(ids(&idx, &q(&[("object", "DITH2")])), [e0 + 1]);
        assert_eq!(
            ids(&idx, &q(&[("exp_id", &format!(">={}", e0 + 3))])),
            [e0 + 4, e0 + 3]
        );
        assert_eq!(
            ids(&idx, &q(&[("exp_id", &format!("{}..{}", e0 + 1, e0 + 2))])),
            [e0 + 2, e0 + 1]
        );
        let t0 = s.start.to_iso();
        assert_eq!(idx.query(&q(&[("utc_start", &t0[..10])])).filtered, 5);
        assert_eq!(
            idx.query(&q(&[("nfits", "4"), ("object", "dith")]))
                .filtered,
            5
        );
        assert_eq!(idx.query(&q(&[("nfits", "<4")])).filtered, 0);
        // Global search and SQL-looking text are plain substrings: no match, no error.
        let mut g = q(&[]);
        g.global = Some("' OR 1=1 --".into());
        assert_eq!(idx.query(&g).filtered, 0);
        g.global = Some("all-sky".into());
        assert_eq!(idx.query(&g).filtered, 5);
        // Sorting by another column and paging.
        let mut o = q(&[]);
        o.order = vec![(Column::ExpId, false)];
        o.start = 1;
        o.length = 2;
        let page = idx.query(&o);
        assert_eq!((page.total, page.filtered), (5, 5));
        assert_eq!(
            page.rows.iter().map(|e| e.exp_id).collect::<Vec<_>>(),
            [e0 + 1, e0 + 2]
        );
        // Bad searches are errors naming the column.
        let err = Filter::parse(Column::Exptime, "abc").unwrap_err();
        assert!(err.0.contains("exptime"), "{err}");
        assert!(Filter::parse(Column::UtcStart, "yesterday").is_err());
        assert!(Filter::parse(Column::UtcStart, "2023-01-02..2023-13-01").is_err());
        assert_eq!(Filter::parse(Column::Object, "  ").unwrap(), None);
        // Nothing changed: a refresh reads nothing.
        let r = idx.refresh(&log, &RuleSet::default(), false).unwrap();
        assert_eq!(r.nights_read, 0);
        // A new part of tonight: only that night is read again.
        log.append(&rows(&s, 5..6, 2)).unwrap();
        let r = idx.refresh(&log, &RuleSet::default(), false).unwrap();
        assert_eq!((r.nights_read, r.exposures), (1, 6));
    }

    #[test]
    fn blocklist_applies_per_chip_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = ObsLog::open(dir.path().join("obslog")).unwrap();
        let s = sim();
        log.append(&rows(&s, 0..4, 3)).unwrap();
        let bl = Blocklist::open(dir.path().join("blocklist")).unwrap();
        let mut idx = ExposureIndex::new();
        idx.refresh(&log, &bl.rule_set().unwrap(), false).unwrap();
        let e0 = s.first_exp_id as i64;
        let add = |kind| {
            bl.add(NewRule {
                kind,
                reason: "test".into(),
                author: "ci".into(),
                no_fetch: false,
            })
            .unwrap()
        };
        // One chip file: its exposure loses one file.
        let r1 = add(RuleKind::FrameId {
            frame_id: s.frame_id(1, 0).to_string(),
        });
        // A whole exposure.
        let r2 = add(RuleKind::ExpId { exp_id: e0 + 2 });
        idx.refresh(&log, &bl.rule_set().unwrap(), true).unwrap();
        let all = idx.query(&q(&[]));
        assert_eq!(all.total, 3);
        let nfits: Vec<(i64, u32)> = all.rows.iter().map(|e| (e.exp_id, e.nfits)).collect();
        assert_eq!(nfits, [(e0 + 3, 3), (e0 + 1, 2), (e0, 3)]);
        assert!(idx.get(e0 + 2).is_none());
        bl.remove(r1.id, "ci").unwrap();
        bl.remove(r2.id, "ci").unwrap();
        idx.refresh(&log, &bl.rule_set().unwrap(), true).unwrap();
        assert_eq!(idx.query(&q(&[])).total, 4);
        assert_eq!(idx.get(e0 + 1).unwrap().nfits, 3);
    }
}
