//! Alerts, their settings and deliveries.

use chrono::Duration;

use crate::audit::{AuditAction, AuditChain};
use crate::notify::{
    Alert, AlertEvent, AlertFilter, AlertKind, AlertSettings, DeliveryRecord, WebhookFormat,
    WebhookTarget,
};
use crate::store::*;

use super::fixtures::*;

/// One open alert per (company, kind, subject): a second is not stored and
/// the open one comes back; resolving closes it once, after which a new one
/// may open. Reads are scoped to the company.
pub async fn alerts_stay_open_once_per_subject(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let al = store.alerts();
    let c = a.company.id;
    let bob = UserId::new();
    let first = al
        .open_alert(&alert(c, AlertKind::AgentOffline, Some(bob)))
        .await
        .unwrap();
    assert!(first.inserted);
    let again = al
        .open_alert(&alert(c, AlertKind::AgentOffline, Some(bob)))
        .await
        .unwrap();
    assert!(!again.inserted, "one open alert per subject and kind");
    assert_eq!(again.stored, first.stored);
    let other_user = alert(c, AlertKind::AgentOffline, Some(UserId::new()));
    assert!(al.open_alert(&other_user).await.unwrap().inserted);
    let idle = alert(c, AlertKind::HighIdle, Some(bob));
    assert!(
        al.open_alert(&idle).await.unwrap().inserted,
        "another kind is another alert"
    );
    let no_sync_a = alert(c, AlertKind::NoSync, None);
    let no_sync_b = alert(b.company.id, AlertKind::NoSync, None);
    assert!(al.open_alert(&no_sync_a).await.unwrap().inserted);
    assert!(
        !al.open_alert(&alert(c, AlertKind::NoSync, None))
            .await
            .unwrap()
            .inserted,
        "company-wide subjects too"
    );
    assert!(
        al.open_alert(&no_sync_b).await.unwrap().inserted,
        "another company"
    );

    assert_eq!(al.get_alert(c, idle.id).await.unwrap(), Some(idle.clone()));
    assert_eq!(
        al.get_alert(b.company.id, idle.id).await.unwrap(),
        None,
        "scoped"
    );
    let offline = al
        .open_alerts(Some(c), AlertKind::AgentOffline)
        .await
        .unwrap();
    assert_eq!(offline.len(), 2);
    let all_no_sync = al.open_alerts(None, AlertKind::NoSync).await.unwrap();
    assert_eq!(all_no_sync.len(), 2, "every company's with None");

    let at = t0() + Duration::hours(1);
    assert_eq!(
        al.resolve_alert(b.company.id, first.stored.id, at)
            .await
            .unwrap(),
        None,
        "not of that company"
    );
    let resolved = al
        .resolve_alert(c, first.stored.id, at)
        .await
        .unwrap()
        .expect("resolved");
    assert_eq!(resolved.resolved_at, Some(at));
    assert_eq!(
        al.resolve_alert(c, first.stored.id, at).await.unwrap(),
        None,
        "only once"
    );
    let reopened = al
        .open_alert(&alert(c, AlertKind::AgentOffline, Some(bob)))
        .await
        .unwrap();
    assert!(reopened.inserted, "after resolution a new alert may open");

    let list = |filter: AlertFilter| async move {
        walk(
            2,
            |p| async move { al.list_alerts(Some(c), &filter, &p).await },
        )
        .await
    };
    let every: Vec<Alert> = list(AlertFilter::default()).await;
    assert_eq!(every.len(), 5, "{every:?}");
    let mut ids: Vec<_> = every.iter().map(|x| x.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        every.iter().map(|x| x.id).collect::<Vec<_>>(),
        "ordered by id"
    );
    let closed = list(AlertFilter {
        open: Some(false),
        kind: None,
        ..AlertFilter::default()
    })
    .await;
    assert_eq!(closed, vec![resolved]);
    let open_offline = list(AlertFilter {
        open: Some(true),
        kind: Some(AlertKind::AgentOffline),
        ..AlertFilter::default()
    })
    .await;
    assert_eq!(open_offline.len(), 2);
    bad_cursor(
        |p| async move { al.list_alerts(Some(c), &AlertFilter::default(), &p).await },
        "list_alerts",
    )
    .await;
}

/// Settings are stored whole per company with their audit event (unknown
/// company: not found, no event); deliveries are kept per alert and scoped.
pub async fn alert_settings_and_deliveries_are_scoped(store: &dyn Store) {
    let a = company(store, 10, 1_000).await;
    let b = company(store, 10, 1_000).await;
    let al = store.alerts();
    let c = a.company.id;
    assert_eq!(al.get_alert_settings(c).await.unwrap(), None);
    let mut settings = AlertSettings::default_for(c, t0());
    settings.offline_minutes = 30;
    settings.webhooks = vec![WebhookTarget {
        url: "https://hooks.example/alerts".into(),
        format: WebhookFormat::Slack,
        secret: Some("0123456789abcdef".into()),
    }];
    let chain = AuditChain::Company(c);
    let len = chain_len(store, chain).await;
    al.put_alert_settings(
        &settings,
        event(chain, AuditAction::AlertSettingsUpdated, 3),
    )
    .await
    .unwrap();
    assert_eq!(chain_len(store, chain).await, len + 1);
    assert_eq!(
        al.get_alert_settings(c).await.unwrap(),
        Some(settings.clone())
    );
    assert_eq!(
        al.get_alert_settings(b.company.id).await.unwrap(),
        None,
        "scoped"
    );
    settings.high_idle_enabled = false;
    al.put_alert_settings(
        &settings,
        event(chain, AuditAction::AlertSettingsUpdated, 4),
    )
    .await
    .unwrap();
    assert_eq!(
        al.get_alert_settings(c).await.unwrap(),
        Some(settings.clone()),
        "replaced"
    );
    let ghost = AlertSettings::default_for(CompanyId::new(), t0());
    let platform = chain_len(store, AuditChain::Platform).await;
    expect_code(
        al.put_alert_settings(
            &ghost,
            event(AuditChain::Platform, AuditAction::AlertSettingsUpdated, 5),
        )
        .await,
        "not_found",
        "settings of an unknown company",
    );
    assert_eq!(
        chain_len(store, AuditChain::Platform).await,
        platform,
        "no event without the change"
    );

    let x = alert(c, AlertKind::NoSync, None);
    al.open_alert(&x).await.unwrap();
    let record = |attempt: u32, delivered: bool| DeliveryRecord {
        id: DeliveryId::new(),
        company_id: c,
        alert_id: x.id,
        event: AlertEvent::Raised,
        url: "https://hooks.example/alerts".into(),
        attempt,
        at: t0() + Duration::seconds(i64::from(attempt)),
        status: if delivered { Some(200) } else { Some(503) },
        error: (!delivered).then(|| "HTTP 503".to_owned()),
        delivered,
    };
    let records = vec![record(1, false), record(2, false), record(3, true)];
    al.insert_deliveries(&records).await.unwrap();
    assert_eq!(al.list_deliveries(c, x.id).await.unwrap(), records);
    assert!(
        al.list_deliveries(b.company.id, x.id)
            .await
            .unwrap()
            .is_empty(),
        "scoped"
    );
    assert!(
        al.list_deliveries(c, AlertId::new())
            .await
            .unwrap()
            .is_empty()
    );
}
