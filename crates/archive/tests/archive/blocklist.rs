//! No-fetch blocklist rules: refused before download by Frame ID / EXP_ID, after reading the
//! header by any rule; hide-only rules do not stop archiving; previews are made at ingest.

use crate::common::*;
use std::time::Duration;
use tomoe_sim::stacks::write_one;
use tomoe_store::blocklist::{Blocklist, NewRule, RuleKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fetch_rules_refuse_files_and_previews_are_made() {
    let env = Env::new().await;
    let cfg = env.cfg();
    let sim = small_sim();
    let e0 = sim.first_exp_id as i64;
    let bl = Blocklist::open(&cfg.blocklist_dir).unwrap();
    let rule = |kind, no_fetch| NewRule {
        kind,
        reason: "test".into(),
        author: "ci".into(),
        no_fetch,
    };
    // Exposure 1: refused from its file name. Exposure 2 (object *_dith3): refused once its
    // header is read. Exposure 0: hidden from the public, but still archived.
    bl.add(rule(RuleKind::ExpId { exp_id: e0 + 1 }, true))
        .unwrap();
    bl.add(rule(
        RuleKind::Object {
            pattern: "*_dith3".into(),
        },
        true,
    ))
    .unwrap();
    bl.add(rule(RuleKind::ExpId { exp_id: e0 }, false)).unwrap();
    let d = Daemon::start(cfg.clone()).await;
    let mut names = Vec::new();
    for k in 0..4 {
        for c in 0..2 {
            let f = write_one(&sim, &env.source, k, c).unwrap();
            let n = f.path.file_name().unwrap().to_string_lossy().to_string();
            env.publish(&cfg.channel, &notice(&env, &n)).await;
            names.push((k, n));
        }
    }
    let s = d
        .wait(Duration::from_secs(30), "8 files decided", |s| {
            s.counts.archived + s.counts.refused >= 8 && s.counts.previews >= 4
        })
        .await;
    assert_eq!(
        (s.counts.archived, s.counts.refused, s.counts.failed),
        (4, 4, 0)
    );
    assert_eq!(log_counts(&cfg.obslog_root).await, (4, 4));
    for (k, n) in &names {
        let night = tomoe_fits::FrameId::find_in(n).unwrap().date;
        let rel = format!("{}/{}/{n}", night.year, night);
        let archived = cfg.archive_root.join(&rel).exists();
        assert_eq!(archived, *k == 0 || *k == 3, "exposure {k}: {n}");
        assert_eq!(
            cfg.previews_dir.join(format!("{rel}.thumb.png")).is_file(),
            archived
        );
    }
    // Nothing of a refused file is left behind, and announcing it again changes nothing.
    assert_eq!(
        std::fs::read_dir(cfg.archive_root.join(".incoming"))
            .unwrap()
            .count(),
        0
    );
    for (_, n) in &names {
        env.publish(&cfg.channel, &notice(&env, n)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let s = d.stop().await;
    assert_eq!((s.counts.archived, s.counts.refused), (4, 4));
}
