//! The policy's rules, and the ratchet's promise as a property.
use super::*;

#[test]
fn updates_bump_the_version_and_keep_absent_fields() {
    let now = Utc::now();
    let p = TrackingPolicy::default_for(CompanyId::new(), now);
    let q = p
        .change(
            &PolicyUpdate {
                screenshots_enabled: Some(false),
                ..Default::default()
            },
            now,
        )
        .unwrap();
    assert_eq!(q.version, p.version + 1);
    assert!(!q.screenshots_enabled);
    assert_eq!(q.idle_threshold_seconds, p.idle_threshold_seconds);
    assert_ne!(p.etag(), q.etag());
}

#[test]
fn out_of_range_values_are_named() {
    let bad = PolicyUpdate {
        screenshot_interval_seconds: Some(5),
        idle_threshold_seconds: Some(100_000),
        ..Default::default()
    };
    let err = bad.validate().unwrap_err();
    let fields: Vec<_> = err
        .field_errors()
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(
        fields,
        ["screenshot_interval_seconds", "idle_threshold_seconds"]
    );
}

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::hours(hours)
}

#[test]
fn a_change_that_collects_less_applies_at_once_and_more_waits() {
    let mut p = TrackingPolicy::default_for(CompanyId::new(), at(0));
    p = p
        .change(
            &PolicyUpdate {
                notice_days: Some(7),
                screenshots_enabled: Some(false),
                ..Default::default()
            },
            at(0),
        )
        .unwrap();
    assert_eq!((p.version, p.pending.is_none()), (2, true), "less: at once");

    let more = PolicyUpdate {
        screenshots_enabled: Some(true),
        ..Default::default()
    };
    let q = p.change(&more, at(1)).unwrap();
    let pending = q.pending.as_ref().expect("more: waits");
    assert_eq!((q.version, pending.policy.version, q.revision()), (2, 3, 3));
    assert_eq!(pending.applies_at, at(1) + chrono::Duration::days(7));
    assert!(!q.effective(None, at(2)).screenshots_enabled);
    assert!(q.effective(None, pending.applies_at).screenshots_enabled);
    assert_eq!(
        pending.policy.more_than(&p),
        ["screenshots are taken"],
        "said in plain words"
    );

    // A later change within the pending one keeps its date.
    let r = q
        .change(
            &PolicyUpdate {
                blur_screenshots: Some(true),
                ..Default::default()
            },
            at(50),
        )
        .unwrap();
    assert_eq!(r.pending.as_ref().unwrap().applies_at, pending.applies_at);
    assert_eq!(r.revision(), 4);
    // A lower notice is itself a change that collects more.
    let s = p
        .change(
            &PolicyUpdate {
                notice_days: Some(0),
                ..Default::default()
            },
            at(1),
        )
        .unwrap();
    assert_eq!(s.notice_days, 7);
    assert_eq!(s.pending.unwrap().policy.notice_days, 0);
}

#[test]
fn an_acknowledgement_is_needed_where_the_policy_in_force_asks_for_it() {
    let p = TrackingPolicy::default_for(CompanyId::new(), at(0))
        .change(
            &PolicyUpdate {
                require_acknowledgement: Some(true),
                website_tracking_enabled: Some(false),
                ..Default::default()
            },
            at(0),
        )
        .unwrap();
    let q = p
        .change(
            &PolicyUpdate {
                website_tracking_enabled: Some(true),
                ..Default::default()
            },
            at(1),
        )
        .unwrap();
    // No notice: due at once, but only for those who acknowledged it.
    assert!(!q.effective(None, at(2)).website_tracking_enabled);
    assert!(!q.effective(Some(2), at(2)).website_tracking_enabled);
    assert!(q.effective(Some(3), at(2)).website_tracking_enabled);
}

#[test]
fn redacting_more_patterns_collects_less() {
    let mut a = TrackingPolicy::default_for(CompanyId::new(), at(0));
    a.window_titles = TitleRule::Redact;
    a.title_patterns = vec!["salary".into(), "inbox".into()];
    let mut b = a.clone();
    b.title_patterns = vec!["salary".into()];
    assert!(a.collects_no_more_than(&b));
    assert!(!b.collects_no_more_than(&a));
    b.window_titles = TitleRule::Keep;
    assert!(a.collects_no_more_than(&b));
    b.window_titles = TitleRule::Drop;
    assert!(!a.collects_no_more_than(&b));
    let mut c = a.clone();
    c.url_detail = UrlDetail::Domain;
    assert!(c.collects_no_more_than(&a) && !a.collects_no_more_than(&c));
    c.retention.screenshots_days = Some(10);
    assert!(c.collects_no_more_than(&a) && !a.collects_no_more_than(&c));
}

mod ratchet {
    use super::*;
    use proptest::option;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Update(PolicyUpdate),
        Wait(i64),
        Acknowledge,
    }

    fn update() -> impl Strategy<Value = PolicyUpdate> {
        let patterns = prop_oneof![
            Just(vec![]),
            Just(vec!["salary".to_owned()]),
            Just(vec!["salary".to_owned(), "inbox".to_owned()]),
        ];
        (
            (
                option::of(any::<bool>()),
                option::of(prop_oneof![Just(30u32), Just(600), Just(3600)]),
                option::of(any::<bool>()),
                option::of(any::<bool>()),
                option::of(any::<bool>()),
            ),
            (
                option::of(prop_oneof![
                    Just(UrlDetail::Domain),
                    Just(UrlDetail::Path),
                    Just(UrlDetail::Full)
                ]),
                option::of(prop_oneof![
                    Just(TitleRule::Drop),
                    Just(TitleRule::Redact),
                    Just(TitleRule::Keep)
                ]),
                option::of(patterns),
                option::of(0u32..4),
                option::of(any::<bool>()),
                option::of(prop_oneof![
                    Just(RetentionByKind::default()),
                    Just(RetentionByKind {
                        screenshots_days: Some(7),
                        ..Default::default()
                    }),
                    Just(RetentionByKind {
                        screenshots_days: Some(30),
                        details_days: Some(3),
                        ..Default::default()
                    }),
                ]),
            ),
        )
            .prop_map(
                |((shots, interval, web, apps, blur), (url, titles, pats, notice, ack, keep))| {
                    PolicyUpdate {
                        screenshots_enabled: shots,
                        screenshot_interval_seconds: interval,
                        website_tracking_enabled: web,
                        app_tracking_enabled: apps,
                        blur_screenshots: blur,
                        url_detail: url,
                        window_titles: titles,
                        title_patterns: pats,
                        notice_days: notice,
                        require_acknowledgement: ack,
                        retention: keep,
                        idle_threshold_seconds: None,
                    }
                },
            )
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => update().prop_map(Step::Update),
            2 => (0i64..80).prop_map(Step::Wait),
            1 => Just(Step::Acknowledge),
        ]
    }

    /// A policy announced at a time, with the notice and the
    /// acknowledgement rule of the policy in force then.
    struct Announced {
        policy: TrackingPolicy,
        at: DateTime<Utc>,
        notice_days: u32,
        needs_acknowledgement: bool,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// No sequence of changes collects more from an employee
        /// without notice: whenever what applies to them collects
        /// more than what applied before, it collects no more than a
        /// policy announced at least the notice period ago, which
        /// they acknowledged where the policy in force asked for it.
        #[test]
        fn nothing_collects_more_without_notice(
            start in update(),
            steps in proptest::collection::vec(step(), 1..40),
        ) {
            let mut now = at(0);
            let mut record = TrackingPolicy::default_for(CompanyId::new(), now);
            // The company starts from some policy, applied at creation.
            record = record.ratchet(
                TrackingPolicy { pending: None, ..record.change(&start, now).unwrap().latest().clone() },
                now,
            );
            record = record.latest().clone();
            // What applied at the start was in force before anyone looked.
            let mut announced = vec![Announced {
                policy: record.clone(),
                at: now - chrono::Duration::days(365),
                notice_days: 0,
                needs_acknowledgement: false,
            }];
            let mut acknowledged: Option<u64> = None;
            let mut acknowledged_all: Vec<TrackingPolicy> = Vec::new();
            let mut applied = record.effective(acknowledged, now);
            for step in steps {
                match step {
                    Step::Update(u) => {
                        record = record.change(&u, now).unwrap();
                        // Judged by the employee's own policy, not the
                        // ratchet's: a change within it needs no notice;
                        // any other needs the notice and consent it
                        // promises.
                        let target = record.latest().clone();
                        let within = target.collects_no_more_than(&applied);
                        announced.push(Announced {
                            notice_days: if within { 0 } else { applied.notice_days },
                            needs_acknowledgement: !within && applied.require_acknowledgement,
                            policy: target,
                            at: now,
                        });
                    }
                    Step::Wait(hours) => now += chrono::Duration::hours(hours),
                    Step::Acknowledge => {
                        acknowledged = Some(record.revision());
                        acknowledged_all.push(record.latest().clone());
                    }
                }
                let now_applied = record.effective(acknowledged, now);
                prop_assert!(now_applied.pending.is_none());
                if !now_applied.collects_no_more_than(&applied) {
                    let justified = announced.iter().any(|a| {
                        now_applied.collects_no_more_than(&a.policy)
                            && now >= a.at + chrono::Duration::days(i64::from(a.notice_days))
                            && (!a.needs_acknowledgement
                                || acknowledged_all
                                    .iter()
                                    .any(|q| now_applied.collects_no_more_than(q)))
                    });
                    prop_assert!(
                        justified,
                        "version {} collects more ({:?}) without notice",
                        now_applied.version,
                        now_applied.more_than(&applied)
                    );
                }
                applied = now_applied;
            }
        }
    }
}
