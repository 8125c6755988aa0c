//! What privacy keeps in the store: the policy's minimisation, notice,
//! retention and pending change, and each user's acknowledgement.

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain};
use crate::identity::{LegalHold, Role};
use crate::policy::{PolicyUpdate, RetentionByKind, TitleRule, TrackingPolicy, UrlDetail};
use crate::store::*;

use super::fixtures::*;

/// A policy with every privacy rule and a pending change is stored whole,
/// changes compare and set on the newest announced version, and a user's
/// acknowledgement and legal hold are stored with the user and read with
/// their token.
pub async fn privacy_rules_and_consent_are_stored_whole(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let chain = AuditChain::Company(a.company.id);
    let p = store.policies();
    let stored = p.get_policy(a.company.id).await.unwrap().unwrap();
    let strict = stored
        .change(
            &PolicyUpdate {
                url_detail: Some(UrlDetail::Domain),
                window_titles: Some(TitleRule::Redact),
                title_patterns: Some(vec!["salary".into(), "(?i)inbox".into()]),
                notice_days: Some(14),
                require_acknowledgement: Some(true),
                screenshots_enabled: Some(false),
                ..PolicyUpdate::default()
            },
            t0() + Duration::hours(1),
        )
        .unwrap();
    let strict = TrackingPolicy {
        retention: RetentionByKind {
            screenshots_days: Some(7),
            details_days: Some(2),
            ..RetentionByKind::default()
        },
        ..strict
    };
    assert!(strict.pending.is_none(), "it collects less: at once");
    p.update_policy(&strict, event(chain, AuditAction::PolicyUpdated, 40))
        .await
        .unwrap();
    assert_eq!(
        p.get_policy(a.company.id).await.unwrap(),
        Some(strict.clone())
    );

    // Screenshots back on: announced, pending for 14 days.
    let announced = strict
        .change(
            &PolicyUpdate {
                screenshots_enabled: Some(true),
                ..PolicyUpdate::default()
            },
            t0() + Duration::hours(2),
        )
        .unwrap();
    let pending = announced
        .pending
        .clone()
        .expect("it collects more: pending");
    assert_eq!(
        announced.version, strict.version,
        "the policy in force stays"
    );
    p.update_policy(&announced, event(chain, AuditAction::PolicyUpdated, 41))
        .await
        .unwrap();
    let read = p.get_policy(a.company.id).await.unwrap().unwrap();
    assert_eq!(read, announced);
    assert_eq!(read.pending.as_deref(), Some(&*pending));
    assert_eq!(read.revision(), strict.version + 1);

    // A write computed from the record before the announcement loses.
    let before = chain_len(store, chain).await;
    let stale = strict
        .change(
            &PolicyUpdate {
                blur_screenshots: Some(true),
                ..PolicyUpdate::default()
            },
            t0() + Duration::hours(3),
        )
        .unwrap();
    expect_code(
        p.update_policy(&stale, event(chain, AuditAction::PolicyUpdated, 42))
            .await,
        "invalid_state",
        "a change computed from an older revision",
    );
    assert_eq!(p.get_policy(a.company.id).await.unwrap(), Some(announced));
    assert_eq!(chain_len(store, chain).await, before);
    assert_eq!(
        p.get_policy(b.company.id).await.unwrap().unwrap().version,
        1,
        "another company's policy is untouched"
    );

    // Consent and hold live on the user, and travel with the token.
    let mut bob = add_user(store, &a, "bob", Role::Employee).await;
    bob.privacy.acknowledged_version = Some(read.revision());
    bob.privacy.acknowledged_at = Some(t0() + Duration::hours(4));
    bob.privacy.legal_hold = Some(LegalHold {
        reason: "case 2026-17".into(),
        placed_by: a.admin.id,
        placed_at: t0() + Duration::hours(4),
    });
    store
        .users()
        .update_user(
            &bob,
            &UserUpdate::default(),
            event(chain, AuditAction::PolicyAcknowledged, 43),
        )
        .await
        .unwrap();
    let again = store
        .users()
        .get_user(Some(a.company.id), bob.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.privacy, bob.privacy);
    let token = TokenRecord {
        hash: SecretHash::of("tk_privacy"),
        user_id: bob.id,
        company_id: bob.company_id,
        created_at: t0(),
        expires_at: t0() + Duration::days(30),
    };
    store
        .agents()
        .insert_token(&token, signed_in(&token))
        .await
        .unwrap();
    let context = store
        .agents()
        .token_context(&token.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(context.user.unwrap().privacy, bob.privacy);
    assert_eq!(context.policy.unwrap().pending, read.pending);
}
