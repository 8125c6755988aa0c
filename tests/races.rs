//! Callers racing each other through the public `Tracker` API, on the
//! memory store, a SQLite file and, when `DATABASE_URL` is set, PostgreSQL,
//! with screenshot images as files: what one caller stores, no other caller
//! overwrites or reads.

use std::sync::Arc;

use chrono::Utc;
use tracker::protocol::{CreateCompany, LoginRequest, NewUser, ScreenshotUpload};
use tracker::store::Store;
use tracker::{
    AgentContext, Argon2Hasher, FsBlobStore, MemoryStore, Principal, Role, ScreenshotId, Tracker,
};
use tracker_core::secret::SecretHash;
use tracker_core::testkit::PNG;
use tracker_sqlite::SqliteStore;
use tracker_sqlx::testing::TestStore;

/// A company with an admin and two employees' agents, images on disk.
struct World {
    tracker: Arc<Tracker>,
    admin: Principal,
    bob: AgentContext,
    carol: AgentContext,
    blobs: tempfile::TempDir,
    _guard: Box<dyn std::any::Any + Send>,
}

async fn world(store: Arc<dyn Store>, guard: Box<dyn std::any::Any + Send>) -> World {
    let blobs = tempfile::tempdir().unwrap();
    let tracker = Arc::new(
        Tracker::builder_shared(store)
            .blobs(Arc::new(FsBlobStore::new(blobs.path()).unwrap()))
            .password_hasher(Argon2Hasher::insecure_fast())
            .build(),
    );
    tracker.ensure_default_plans().await.unwrap();
    tracker
        .bootstrap_owner("operator", "operator-password")
        .await
        .unwrap();
    let login = |key: Option<&str>, user: &str| LoginRequest {
        company_key: key.map(str::to_owned),
        username: user.into(),
        password: format!("{user}-password"),
    };
    let token = tracker
        .login(login(None, "operator"), None)
        .await
        .unwrap()
        .token;
    let owner = tracker.authenticate(token.expose()).await.unwrap();
    let new_user = |name: &str, role| NewUser {
        username: name.into(),
        password: format!("{name}-password"),
        email: None,
        display_name: None,
        role: Some(role),
    };
    let created = tracker
        .create_company(
            &owner,
            CreateCompany {
                name: "Acme".into(),
                plan: Some("PRO".into()),
                timezone: None,
                trial_days: None,
                retention_days: None,
                admin: new_user("ada", Role::Admin),
            },
        )
        .await
        .unwrap();
    let key = created.company_key.expose().to_owned();
    let token = tracker
        .login(login(Some(&key), "ada"), None)
        .await
        .unwrap()
        .token;
    let admin = tracker.authenticate(token.expose()).await.unwrap();
    let mut agents = Vec::new();
    for name in ["bob", "carol"] {
        tracker
            .create_user(&admin, new_user(name, Role::Employee))
            .await
            .unwrap();
        let token = tracker
            .login(login(Some(&key), name), None)
            .await
            .unwrap()
            .token;
        agents.push(tracker.agent(&key, token.expose()).await.unwrap());
    }
    let carol = agents.pop().unwrap();
    let bob = agents.pop().unwrap();
    World {
        tracker,
        admin,
        bob,
        carol,
        blobs,
        _guard: guard,
    }
}

/// A screenshot's bytes, different for each `n`.
fn image(n: u8) -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.extend(std::iter::repeat_n(n, 64));
    bytes
}

/// The files under the blob directory, temporary ones included.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Eight uploads of one new id at once by its agent: every one answered,
/// one stored, and the image served is the one its row describes.
async fn eight_uploads_of_one_id(w: World) {
    let id = ScreenshotId::new();
    let mut tasks = Vec::new();
    for n in 0..8u8 {
        let (tracker, agent) = (Arc::clone(&w.tracker), w.bob.clone());
        tasks.push(tokio::spawn(async move {
            let meta = ScreenshotUpload {
                id,
                taken_at: Utc::now(),
                blurred: false,
            };
            tracker.upload_screenshot(&agent, meta, image(n)).await
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        let answer = task
            .await
            .unwrap()
            .expect("every upload is answered, none fails");
        assert_eq!(answer.stored.id, id);
        inserted += usize::from(answer.inserted);
    }
    assert_eq!(inserted, 1, "one upload stores the id");
    let (row, bytes) = w.tracker.screenshot_image(&w.admin, id).await.unwrap();
    assert_eq!(
        row.sha256,
        SecretHash::of_bytes(&bytes),
        "the image is its row's"
    );
    assert_eq!(row.size_bytes, bytes.len() as u64);
    let left = files(w.blobs.path());
    assert_eq!(left.len(), 1, "the losers' bytes are gone: {left:?}");
}

/// Two employees sending one new id at once: one stores it, the other is
/// refused with a conflict and learns nothing of the stored screenshot.
async fn two_users_on_one_id(w: World) {
    for round in 0..6u8 {
        let id = ScreenshotId::new();
        let upload = |agent: AgentContext, n: u8| {
            let tracker = Arc::clone(&w.tracker);
            tokio::spawn(async move {
                let meta = ScreenshotUpload {
                    id,
                    taken_at: Utc::now(),
                    blurred: false,
                };
                let me = agent.principal().user_id();
                (me, tracker.upload_screenshot(&agent, meta, image(n)).await)
            })
        };
        let racers = [
            upload(w.bob.clone(), round),
            upload(w.carol.clone(), round + 100),
        ];
        let mut stored = 0;
        for racer in racers {
            let (me, answer) = racer.await.unwrap();
            match answer {
                Ok(ingested) => {
                    assert_eq!(ingested.stored.user_id, me, "one's own screenshot only");
                    stored += 1;
                }
                Err(e) => assert_eq!(e.code(), "already_exists", "{e}"),
            }
        }
        assert_eq!(stored, 1, "round {round}");
        let (row, bytes) = w.tracker.screenshot_image(&w.admin, id).await.unwrap();
        assert_eq!(row.sha256, SecretHash::of_bytes(&bytes));
    }
    assert_eq!(files(w.blobs.path()).len(), 6, "one image per id");
}

async fn memory() -> World {
    world(Arc::new(MemoryStore::new()), Box::new(())).await
}

async fn sqlite() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("races.db")).unwrap();
    world(Arc::new(store), Box::new(dir)).await
}

async fn postgres() -> Option<World> {
    let db = Arc::new(TestStore::new().await?);
    let store: Arc<dyn Store> = db.clone();
    Some(world(store, Box::new(db)).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_of_one_id_at_once_on_memory() {
    eight_uploads_of_one_id(memory().await).await;
    two_users_on_one_id(memory().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_of_one_id_at_once_on_sqlite() {
    eight_uploads_of_one_id(sqlite().await).await;
    two_users_on_one_id(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_of_one_id_at_once_on_postgres() {
    let Some(w) = postgres().await else { return };
    eight_uploads_of_one_id(w).await;
    let Some(w) = postgres().await else { return };
    two_users_on_one_id(w).await;
}
