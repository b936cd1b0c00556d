//! The file server: listings, Range, HEAD, hidden files and traversal attempts.

use crate::common::*;
use reqwest::header;

#[tokio::test]
async fn listing_range_head_and_traversal() {
    let env = Env::new().await;
    std::fs::create_dir_all(env.source.join("20230102")).unwrap();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(env.source.join("20230102/a.fits"), &data).unwrap();
    std::fs::write(env.source.join("20230102/.hidden.fits"), b"x").unwrap();
    std::fs::write(env.source.join("b.fits.part"), b"x").unwrap();
    let c = reqwest::Client::new();

    let idx: serde_json::Value = c
        .get(format!("{}_index.json", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let files = idx["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{idx}");
    assert_eq!(files[0]["path"], "20230102/a.fits");
    assert_eq!(files[0]["size"], 10_000);

    let html = c
        .get(format!("{}20230102/", env.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("href=\"/20230102/a.fits\"") && !html.contains("hidden"),
        "{html}"
    );
    let j: serde_json::Value = c
        .get(&env.base)
        .header(header::ACCEPT, "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(j["files"][0]["path"], "20230102");
    assert_eq!(j["files"][0]["dir"], true);

    let url = format!("{}20230102/a.fits", env.base);
    let r = c
        .get(&url)
        .header(header::RANGE, "bytes=9000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[9000..]);
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "10000");
    assert_eq!(
        c.get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        &data[..]
    );

    for bad in [
        "20230102/.hidden.fits",
        "b.fits.part",
        "..%2f..%2fetc%2fpasswd",
        "20230102/%2e%2e/%2e%2e/etc/passwd",
        "nope.fits",
    ] {
        let r = c.get(format!("{}{bad}", env.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
}
