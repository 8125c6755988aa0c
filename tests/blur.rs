//! Server-side blur over HTTP, on a SQLite file and blobs in files, with
//! the blur the reference server runs: once the ADMIN asks for blurred
//! screenshots, a sharp upload is stored blurred, marked so, and its
//! original bytes are nowhere on disk.

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::json;
use tracker_axum::testing::Server;
use tracker_core::store::Store;
use tracker_core::tracking::ImageFormat;
use tracker_core::{Argon2Hasher, FsBlobStore, Tracker};
use tracker_imaging::ImageBlur;
use tracker_imaging::testing::{detail, sharp_page};
use tracker_sqlite::SqliteStore;

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(files(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            all.push((path, bytes));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screenshot_the_policy_blurs_is_stored_blurred_only() {
    let dir = tempfile::tempdir().unwrap();
    let blob_dir = dir.path().join("blobs");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("tracker.db")).unwrap());
    let tracker = Arc::new(
        Tracker::builder_shared(store)
            .blobs(Arc::new(FsBlobStore::new(&blob_dir).unwrap()))
            .blur(Arc::new(ImageBlur::default()))
            .password_hasher(Argon2Hasher::insecure_fast())
            .build(),
    );
    let server = Server::serve(tracker, tracker_axum::Api::new).await;
    let company = server.company().await;
    let admin = &company.admin;
    admin
        .put(
            "/api/v1/company/policy",
            &json!({ "blur_screenshots": true }),
        )
        .await
        .expect(200);
    let agent = server.agent(&company, "emp").await;

    // The agent says it did not blur; the policy says blur.
    let sharp = sharp_page(1280, 800, ImageFormat::Png);
    let id = uuid::Uuid::new_v4();
    let meta = json!({
        "id": id,
        "taken_at": Utc::now() - Duration::minutes(1),
        "blurred": false,
    });
    agent.upload_screenshot(&meta, &sharp).await.expect(201);

    // (a) What the ADMIN sees has lost the text's fine detail.
    let image = admin
        .get(&format!("/api/v1/company/screenshots/{id}/image"))
        .await
        .expect(200);
    assert_eq!(image.header("content-type"), Some("image/png"));
    let (before, after) = (detail(&sharp), detail(&image.raw));
    assert!(
        after < before / 10.0,
        "detail {after} stored, {before} uploaded"
    );

    // (b) The original is in no file of the blob store; the blurred
    // image is.
    let stored = files(&blob_dir);
    for (path, bytes) in &stored {
        assert!(
            !bytes.windows(sharp.len()).any(|w| w == sharp.as_slice()),
            "{} holds the sharp upload",
            path.display()
        );
    }
    assert!(
        stored.iter().any(|(_, bytes)| *bytes == image.raw),
        "the served image is a file of the blob store"
    );

    // (c) The metadata says blurred, whatever the agent said.
    let listed = admin
        .get("/api/v1/company/screenshots")
        .await
        .expect(200)
        .body;
    let shot = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.to_string())
        .expect("the screenshot is listed");
    assert_eq!(shot["blurred"], true, "{shot}");
    assert_eq!(shot["size_bytes"], image.raw.len(), "{shot}");
}
