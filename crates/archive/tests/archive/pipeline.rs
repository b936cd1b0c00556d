//! 200 files in bursts of 84, exactly once; duplicates are no-ops.

use crate::common::*;
use std::time::Duration;
use tomoe_sim::stacks::write_one;
use tomoe_store::{ObsLog, ObsLogQuery};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_84_archived_and_logged_exactly_once() {
    let env = Env::new().await;
    let cfg = env.cfg();
    let d = Daemon::start(cfg.clone()).await;
    let sim = small_sim();
    let mut names = Vec::new();
    for (k, chips) in [(0usize, 84usize), (1, 84), (2, 32)] {
        let mut burst = Vec::new();
        for c in 0..chips {
            let f = write_one(&sim, &env.source, k, c).unwrap();
            burst.push(f.path.file_name().unwrap().to_string_lossy().to_string());
        }
        // Alternate message forms: full JSON, bare path, bare URL.
        for (i, n) in burst.iter().enumerate() {
            let msg = match i % 3 {
                0 => notice(&env, n),
                1 => n.clone(),
                _ => format!("{}{}", env.base, n),
            };
            env.publish(&cfg.channel, &msg).await;
        }
        names.extend(burst);
    }
    assert_eq!(names.len(), 200);
    let s = d
        .wait(Duration::from_secs(60), "200 archived", |s| {
            s.counts.archived >= 200
        })
        .await;
    assert_eq!(s.counts.failed, 0, "{:?}", s.recent_failures);
    assert_eq!(log_counts(&cfg.obslog_root).await, (200, 200));

    // Every file is in the archive tree, byte-identical to the source.
    for n in &names {
        let night = tomoe_fits::FrameId::find_in(n).unwrap().date; // sim start 09:48 UTC: night = UTC date
        let p = cfg
            .archive_root
            .join(format!("{}/{}/{n}", night.year, night));
        assert_eq!(sha256(&p), sha256(&env.source.join(n)), "{n}");
    }

    // Re-announcing everything changes nothing.
    for n in &names {
        env.publish(&cfg.channel, &notice(&env, n)).await;
    }
    let s = d
        .wait(Duration::from_secs(30), "200 duplicates", |s| {
            s.counts.duplicates >= 200
        })
        .await;
    assert_eq!(s.counts.archived, 200);
    assert_eq!(log_counts(&cfg.obslog_root).await, (200, 200));

    // The exposure view counts chip files.
    let log = ObsLog::open(&cfg.obslog_root).unwrap();
    let q = ObsLogQuery::new(&log).await.unwrap();
    let (_, b) = q
        .sql("SELECT exp_id, nfits, fps FROM exposures ORDER BY exp_id")
        .await
        .unwrap();
    let t = arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    assert_eq!(
        t,
        "+--------+-------+-----+
| exp_id | nfits | fps |
+--------+-------+-----+
| 860262 | 84    | 2.0 |
| 860263 | 84    | 2.0 |
| 860264 | 32    | 2.0 |
+--------+-------+-----+"
    );
    let fin = d.stop().await;
    assert_eq!(fin.counts.archived, 200);
}
