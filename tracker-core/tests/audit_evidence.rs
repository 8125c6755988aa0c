//! Signed checkpoints, exports and key rotation through the service, on
//! the memory store: what an auditor receives verifies with the public key
//! alone.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::executor::block_on;
use tracker_core::audit::AuditKey;
use tracker_core::audit::export::{ExportReport, verify_export};
use tracker_core::protocol::*;
use tracker_core::store::Store as _;
use tracker_core::*;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Deployment {
    store: Arc<MemoryStore>,
    clock: ManualClock,
    t: Tracker<MemoryStore>,
    owner: Principal,
    admin: Principal,
    company_key: String,
}

fn tracker(
    store: &Arc<MemoryStore>,
    clock: &ManualClock,
    key: Option<AuditKey>,
) -> Tracker<MemoryStore> {
    let builder = Tracker::builder_shared(store.clone())
        .clock(clock.clone())
        .password_hasher(Argon2Hasher::insecure_fast())
        .config(TrackerConfig {
            checkpoint_every_events: 3,
            checkpoint_interval: Duration::hours(1),
            ..TrackerConfig::default()
        });
    match key {
        Some(key) => builder.audit_key(key),
        None => builder,
    }
    .build()
}

async fn login(t: &Tracker<MemoryStore>, key: Option<&str>, name: &str) -> Principal {
    let resp = t
        .login(
            LoginRequest {
                company_key: key.map(str::to_owned),
                username: name.into(),
                password: format!("{name}-password"),
            },
            None,
        )
        .await
        .unwrap();
    t.authenticate(resp.token.expose()).await.unwrap()
}

fn person(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        password: format!("{name}-password"),
        email: None,
        display_name: None,
        role: Some(Role::Employee),
    }
}

async fn deploy(key: Option<AuditKey>) -> Deployment {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(start());
    let t = tracker(&store, &clock, key);
    t.ensure_default_plans().await.unwrap();
    t.bootstrap_owner("operator", "operator-password")
        .await
        .unwrap();
    let owner = login(&t, None, "operator").await;
    let created = t
        .create_company(
            &owner,
            CreateCompany {
                name: "Acme".into(),
                plan: None,
                timezone: None,
                trial_days: None,
                retention_days: None,
                admin: NewUser {
                    role: Some(Role::Admin),
                    ..person("alice")
                },
            },
        )
        .await
        .unwrap();
    let company_key = created.company_key.expose().to_owned();
    let admin = login(&t, Some(&company_key), "alice").await;
    Deployment {
        store,
        clock,
        t,
        owner,
        admin,
        company_key,
    }
}

/// One audited change of the company's policy.
async fn change(d: &Deployment, idle: u32) {
    let update = PolicyUpdate {
        idle_threshold_seconds: Some(idle),
        ..PolicyUpdate::default()
    };
    d.t.update_policy(&d.admin, update).await.unwrap();
}

async fn collect(mut export: AuditExport<MemoryStore>) -> String {
    let mut text = String::new();
    while let Some(chunk) = export.next_chunk().await.unwrap() {
        text += &chunk;
    }
    text
}

fn verified(text: &str, key: &AuditKey) -> ExportReport {
    verify_export(text.as_bytes(), &key.public_key()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn heads_are_signed_when_due_and_exports_verify() {
    block_on(async {
        let key = AuditKey::generate().unwrap();
        let d = deploy(Some(AuditKey::from_pem(&key.to_pem().unwrap()).unwrap())).await;
        assert_eq!(d.t.audit_public_key(), Some(key.public_key()));
        // A chain never signed is signed at once: the platform's and Acme's.
        assert_eq!(d.t.sign_audit_checkpoints().await.unwrap().signed, 2);
        assert_eq!(
            d.t.sign_audit_checkpoints().await.unwrap().signed,
            0,
            "nothing moved"
        );
        for idle in [300, 301] {
            change(&d, idle).await;
        }
        assert_eq!(
            d.t.sign_audit_checkpoints().await.unwrap().signed,
            0,
            "2 events, not yet due"
        );
        d.clock.advance(Duration::minutes(61));
        assert_eq!(
            d.t.sign_audit_checkpoints().await.unwrap().signed,
            1,
            "due by time"
        );
        let middle = d.t.now();
        for idle in [302, 303, 304] {
            change(&d, idle).await;
        }
        assert_eq!(
            d.t.sign_audit_checkpoints().await.unwrap().signed,
            1,
            "due by count"
        );
        change(&d, 305).await;

        let text = collect(
            d.t.company_audit_export(&d.admin, None, None)
                .await
                .unwrap(),
        )
        .await;
        let all = verified(&text, &key);
        let chain = AuditChain::Company(d.admin.company_id().unwrap());
        let head = d.store.audit().audit_head(chain).await.unwrap().unwrap();
        assert_eq!(all.seqs, Some((1, head.seq)));
        assert_eq!(all.checkpoints, 3);
        assert_eq!(
            all.signed_through,
            Some(head.seq - 1),
            "the last change follows the last checkpoint"
        );

        let later = collect(
            d.t.company_audit_export(&d.admin, Some(middle), None)
                .await
                .unwrap(),
        )
        .await;
        let part = verified(&later, &key);
        assert_eq!(
            part.seqs,
            Some((head.seq - 3, head.seq)),
            "from the first at or after `from`"
        );
        assert_eq!(part.checkpoints, 3, "the earlier checkpoints come along");
        let none = collect(
            d.t.company_audit_export(&d.admin, Some(middle), Some(middle))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(verified(&none, &key).events, 0);

        let platform = collect(
            d.t.platform_audit_export(&d.owner, None, None)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(verified(&platform, &key).chain, AuditChain::Platform);
        let refused = d.t.platform_audit_export(&d.admin, None, None).await;
        assert_eq!(refused.err().map(|e| e.code()), Some("forbidden"));
        let refused = d.t.company_audit_export(&d.owner, None, None).await;
        assert_eq!(refused.err().map(|e| e.code()), Some("forbidden"));
        let backwards =
            d.t.company_audit_export(&d.admin, Some(middle), Some(middle - Duration::hours(1)))
                .await;
        assert_eq!(backwards.err().map(|e| e.code()), Some("validation"));
    });
}

#[test]
fn a_rotated_key_verifies_from_the_old_key_and_the_new() {
    block_on(async {
        let old = AuditKey::generate().unwrap();
        let new = AuditKey::generate().unwrap();
        let d = deploy(Some(AuditKey::from_pem(&old.to_pem().unwrap()).unwrap())).await;
        d.t.sign_audit_checkpoints().await.unwrap();
        let before_rotation = d.t.now() + Duration::seconds(30);
        d.clock.advance(Duration::minutes(1));
        let next = tracker(
            &d.store,
            &d.clock,
            Some(AuditKey::from_pem(&new.to_pem().unwrap()).unwrap()),
        );
        assert_eq!(next.chains_signed_by_other_keys().await.unwrap().len(), 2);
        assert_eq!(next.rotate_audit_key(&old).await.unwrap().signed, 2);
        assert_eq!(next.rotate_audit_key(&old).await.unwrap().signed, 0, "once");
        assert!(next.chains_signed_by_other_keys().await.unwrap().is_empty());
        let admin = login(&next, Some(&d.company_key), "alice").await;
        next.create_user(&admin, person("bob")).await.unwrap();
        d.clock.advance(Duration::hours(2));
        assert_eq!(next.sign_audit_checkpoints().await.unwrap().signed, 1);
        let text = collect(next.company_audit_export(&admin, None, None).await.unwrap()).await;
        let report = verified(&text, &new);
        assert_eq!(
            report.keys,
            [old.public_key().to_string(), new.public_key().to_string()]
        );
        assert_eq!(
            verified(&text, &old).checkpoints,
            3,
            "the old key's holder follows the handover"
        );
        // A range before the rotation carries the later checkpoints too, so
        // the key served today verifies it.
        let early = collect(
            next.company_audit_export(&admin, None, Some(before_rotation))
                .await
                .unwrap(),
        )
        .await;
        let report = verified(&early, &new);
        assert_eq!(report.checkpoints, 3);
        assert!(report.seqs.is_some_and(|(_, last)| last < 3), "{report:?}");
    });
}

#[test]
fn without_a_key_nothing_is_signed_and_no_export_verifies() {
    block_on(async {
        let d = deploy(None).await;
        assert_eq!(d.t.sign_audit_checkpoints().await.unwrap().signed, 0);
        let text = collect(
            d.t.company_audit_export(&d.admin, None, None)
                .await
                .unwrap(),
        )
        .await;
        let any = AuditKey::generate().unwrap();
        let err = verify_export(text.as_bytes(), &any.public_key()).unwrap_err();
        assert!(err.reason.contains("not signed"), "{err}");
        assert_eq!(
            d.t.rotate_audit_key(&any).await.err().map(|e| e.code()),
            Some("invalid_state")
        );
    });
}
