//! Callers racing each other through the public `Tracker` API, on the
//! memory store, a SQLite file and, when `DATABASE_URL` is set, PostgreSQL,
//! with screenshot images as files: what one caller stores, no other caller
//! overwrites or reads, and a state change happens once.

use std::sync::Arc;

use chrono::Utc;
use tracker::audit::AuditChain;
use tracker::protocol::{
    CompleteTask, CreateCompany, Decision, LoginRequest, NewCorrection, NewTask, NewUser,
    ScreenshotUpload, TaskQuery,
};
use tracker::store::{AuditFilter, Store};
use tracker::{
    AgentContext, Argon2Hasher, AuditAction, FsBlobStore, MemoryStore, PageRequest, Principal,
    Role, ScreenshotId, Tracker,
};
use tracker_core::secret::SecretHash;
use tracker_core::testkit::PNG;
use tracker_sqlite::SqliteStore;
use tracker_sqlx::testing::TestStore;

/// A company with an admin and two employees' agents, images on disk.
struct World {
    tracker: Arc<Tracker>,
    owner: Principal,
    admin: Principal,
    /// Bob as a signed-in user (his agent is `bob`).
    bob_user: Principal,
    key: String,
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
    let token = tracker
        .login(login(Some(&key), "bob"), None)
        .await
        .unwrap()
        .token;
    let bob_user = tracker.authenticate(token.expose()).await.unwrap();
    World {
        tracker,
        owner,
        admin,
        bob_user,
        key,
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

/// Runs `call` eight times at once; checks one succeeded and the others
/// were refused as `invalid_state`, and that `action` was audited once in
/// `chain` meanwhile.
async fn once<F, Fut, T>(w: &World, chain: AuditChain, action: AuditAction, call: F)
where
    F: Fn(Arc<Tracker>) -> Fut,
    Fut: std::future::Future<Output = tracker::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let audited = || async {
        let filter = AuditFilter {
            action: Some(action),
            ..AuditFilter::default()
        };
        let page = PageRequest::first(500);
        let events = match chain {
            AuditChain::Platform => w.tracker.platform_audit(&w.owner, &filter, &page).await,
            AuditChain::Company(_) => w.tracker.company_audit(&w.admin, &filter, &page).await,
        };
        events.unwrap().items.len()
    };
    let before = audited().await;
    let tasks: Vec<_> = (0..8)
        .map(|_| tokio::spawn(call(Arc::clone(&w.tracker))))
        .collect();
    let mut done = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => done += 1,
            Err(e) => assert_eq!(e.code(), "invalid_state", "{action:?}: {e}"),
        }
    }
    assert_eq!(done, 1, "{action:?} happened once");
    assert_eq!(audited().await, before + 1, "{action:?} audited once");
}

/// Eight callers at once on each state change: deactivation and
/// reactivation, suspension and reactivation of the company, a correction's
/// decision, a task's completion.
async fn state_changes_happen_once(w: World) {
    let company = w.admin.company_id().unwrap();
    let bob = w.bob_user.user_id();
    let admin = w.admin.clone();
    let chain = AuditChain::Company(company);
    once(&w, chain, AuditAction::EmployeeDeactivated, |t| {
        let admin = admin.clone();
        async move { t.deactivate_user(&admin, bob).await }
    })
    .await;
    once(&w, chain, AuditAction::EmployeeReactivated, |t| {
        let admin = admin.clone();
        async move { t.reactivate_user(&admin, bob).await }
    })
    .await;
    let owner = w.owner.clone();
    once(
        &w,
        AuditChain::Platform,
        AuditAction::CompanySuspended,
        |t| {
            let owner = owner.clone();
            async move { t.suspend_company(&owner, company, None).await }
        },
    )
    .await;
    once(
        &w,
        AuditChain::Platform,
        AuditAction::CompanyReactivated,
        |t| {
            let owner = owner.clone();
            async move { t.reactivate_company(&owner, company).await }
        },
    )
    .await;

    // Bob signs in again: the deactivation ended his sessions.
    let login = LoginRequest {
        company_key: Some(w.key.clone()),
        username: "bob".into(),
        password: "bob-password".into(),
    };
    let token = w.tracker.login(login, None).await.unwrap().token;
    let bob_user = w.tracker.authenticate(token.expose()).await.unwrap();
    let now = Utc::now();
    let correction = w
        .tracker
        .request_correction(
            &bob_user,
            NewCorrection {
                starts_at: now - chrono::Duration::hours(3),
                ends_at: now - chrono::Duration::hours(2),
                reason: "a client visit".into(),
            },
        )
        .await
        .unwrap();
    once(&w, chain, AuditAction::CorrectionDecided, |t| {
        let admin = admin.clone();
        async move {
            let decision = Decision { note: None };
            t.approve_correction(&admin, correction.id, decision).await
        }
    })
    .await;
    let task = w
        .tracker
        .create_task(
            &w.admin,
            NewTask {
                title: "Call back".into(),
                description: None,
                assignee_id: bob,
                due_on: None,
            },
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let (t, bob_user) = (Arc::clone(&w.tracker), bob_user.clone());
            tokio::spawn(async move {
                let note = CompleteTask {
                    note: Some(format!("done by call {n}")),
                };
                t.complete_task(&bob_user, task.id, note).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(done) => winners.push(done),
            Err(e) => assert_eq!(e.code(), "invalid_state", "{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "one completion");
    let stored = w
        .tracker
        .tasks(&w.admin, &TaskQuery::default(), &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(stored, winners, "the stored task is the one completion's");
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
async fn state_changes_happen_once_on_memory() {
    state_changes_happen_once(memory().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_changes_happen_once_on_sqlite() {
    state_changes_happen_once(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_changes_happen_once_on_postgres() {
    let Some(w) = postgres().await else { return };
    state_changes_happen_once(w).await;
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
