//! Every route refuses what it must, with the status and code of the
//! design: no token (401), another company's token with this company's key
//! (401), a role the matrix forbids (403), another company's object (404),
//! malformed JSON (400), a wrong type or an unknown field (422 naming it),
//! an oversize body (413). Refusals change nothing. Then random JSON at the
//! ingest routes never gets a 5xx.
//!
//! The router is called in process (`tower::ServiceExt::oneshot`): these
//! are answers of the application, which no socket changes. The wire
//! itself is tested over a real port in the workspace's `tests/`.

use std::sync::Arc;

use chrono::{Duration, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use tracker_axum::testing::{Client, PNG, Reply, Server};
use tracker_sqlite::SqliteStore;

const JSON_LIMIT: usize = 64 << 10;

/// Two companies with people and objects, and a client for each role.
struct World {
    _dir: tempfile::TempDir,
    server: Server,
    owner: Client,
    admin: Client,
    manager: Client,
    employee: Client,
    /// acme's employee, by agent (token and key).
    agent: Client,
    /// globex's admin and employee agent.
    their_admin: Client,
    their_agent: Client,
    acme_key: String,
    acme_id: String,
    ids: Objects,
}

/// Ids of acme's objects.
struct Objects {
    employee: String,
    team: String,
    task: String,
    correction: String,
    screenshot: String,
    session: String,
}

fn id(reply: &Reply) -> String {
    reply.body["id"].as_str().expect("id").to_owned()
}

async fn company(server: &Server, owner: &Client, name: &str) -> (String, String, Client) {
    let created = owner
        .post(
            "/api/v1/owner/companies",
            &json!({ "name": name, "plan": "PRO",
                     "admin": { "username": "admin", "password": "admin-password" } }),
        )
        .await
        .expect(201);
    let key = created.body["company_key"].as_str().unwrap().to_owned();
    let company_id = created.body["company"]["id"].as_str().unwrap().to_owned();
    let admin = server.login(Some(&key), "admin", "admin-password").await;
    (key, company_id, admin)
}

async fn user(admin: &Client, name: &str, role: &str) -> String {
    id(&admin
        .post(
            "/api/v1/company/employees",
            &json!({ "username": name, "password": "user-password", "role": role }),
        )
        .await
        .expect(201))
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("refusals.db")).unwrap();
    let config = tracker_axum::HttpConfig {
        json_limit: JSON_LIMIT,
        ..tracker_axum::testing::unlimited()
    };
    let server = Server::in_process_with(Arc::new(store), config).await;
    let owner = server.owner().await;
    let (acme_key, acme_id, admin) = company(&server, &owner, "acme").await;
    let (globex_key, _, their_admin) = company(&server, &owner, "globex").await;

    let manager_id = user(&admin, "max", "MANAGER").await;
    let employee = user(&admin, "eve", "EMPLOYEE").await;
    user(&their_admin, "gil", "EMPLOYEE").await;
    let team = id(&admin
        .post(
            "/api/v1/company/teams",
            &json!({ "name": "core", "managers": [manager_id], "members": [employee] }),
        )
        .await
        .expect(201));
    let manager = server.login(Some(&acme_key), "max", "user-password").await;
    let agent = server.login(Some(&acme_key), "eve", "user-password").await;
    let their_agent = server
        .login(Some(&globex_key), "gil", "user-password")
        .await;
    let employee_client = agent.without_key();
    let task = id(&admin
        .post(
            "/api/v1/company/tasks",
            &json!({ "title": "Write the report", "assignee_id": employee }),
        )
        .await
        .expect(201));
    let now = Utc::now();
    let correction = id(&employee_client
        .post(
            "/api/v1/me/corrections",
            &json!({ "starts_at": now - Duration::hours(3), "ends_at": now - Duration::hours(2),
                     "reason": "forgot to start the agent" }),
        )
        .await
        .expect(201));
    let session = uuid::Uuid::new_v4().to_string();
    agent
        .post(
            "/api/v1/agent/sessions",
            &json!({ "id": session, "started_at": now - Duration::hours(1) }),
        )
        .await
        .expect(201);
    let screenshot = uuid::Uuid::new_v4().to_string();
    let taken = (now - Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    agent
        .raw(
            "POST",
            &format!("/api/v1/agent/screenshots?id={screenshot}&taken_at={taken}"),
            &[("content-type", "image/png")],
            PNG,
        )
        .await
        .expect(201);
    World {
        _dir: dir,
        server,
        owner,
        admin,
        manager,
        employee: employee_client,
        agent,
        their_admin,
        their_agent,
        acme_key,
        acme_id,
        ids: Objects {
            employee,
            team,
            task,
            correction,
            screenshot,
            session,
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Audience {
    Agent,
    Company,
    Me,
    Owner,
}

/// One route as the refusal checks see it.
struct Route {
    method: &'static str,
    /// The path with acme's object in it, when it names one.
    path: String,
    audience: Audience,
    /// A valid body, for routes that take JSON.
    body: Option<Value>,
    /// A caller the permission matrix forbids, if any.
    forbidden: Option<Client>,
    /// The same route naming an object the caller's company does not
    /// have, and the caller: 404.
    foreign: Option<(String, Client)>,
}

fn routes(w: &World) -> Vec<Route> {
    let now = Utc::now();
    let today = now.date_naive();
    let ids = &w.ids;
    let acme = &w.acme_id;
    let missing = uuid::Uuid::new_v4();
    let r = |method, path: &str, audience, body: Option<Value>| Route {
        method,
        path: path.to_owned(),
        audience,
        body,
        forbidden: None,
        foreign: None,
    };
    let employee = Some(w.employee.clone());
    let admin = Some(w.admin.clone());
    let their_admin = w.their_admin.clone();
    let their_agent = w.their_agent.without_key();
    let mut all = vec![
        // Agents.
        r(
            "POST",
            "/api/v1/agent/heartbeat",
            Audience::Agent,
            Some(json!({ "policy_version": 1 })),
        ),
        r("GET", "/api/v1/agent/policy", Audience::Agent, None),
        r(
            "POST",
            "/api/v1/agent/sessions",
            Audience::Agent,
            Some(json!({ "id": uuid::Uuid::new_v4(), "started_at": now })),
        ),
        Route {
            foreign: Some((
                format!("/api/v1/agent/sessions/{}/stop", ids.session),
                w.their_agent.clone(),
            )),
            ..r(
                "POST",
                &format!("/api/v1/agent/sessions/{}/stop", ids.session),
                Audience::Agent,
                Some(json!({ "stopped_at": now })),
            )
        },
        r(
            "POST",
            "/api/v1/agent/activity",
            Audience::Agent,
            Some(
                json!({ "events": [{ "id": uuid::Uuid::new_v4(), "started_at": now - Duration::minutes(5),
                                      "duration_seconds": 60, "kind": "active" }] }),
            ),
        ),
        r("POST", "/api/v1/agent/screenshots", Audience::Agent, None),
        r("GET", "/api/v1/agent/tasks", Audience::Agent, None),
        r("GET", "/api/v1/agent/sync-status", Audience::Agent, None),
        // Company: ADMIN only.
        Route {
            forbidden: employee.clone(),
            ..r(
                "PUT",
                "/api/v1/company/policy",
                Audience::Company,
                Some(json!({ "idle_threshold_seconds": 600 })),
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            ..r(
                "POST",
                "/api/v1/company/employees",
                Audience::Company,
                Some(json!({ "username": "newcomer", "password": "user-password" })),
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            foreign: Some((
                format!("/api/v1/company/employees/{}", ids.employee),
                their_admin.clone(),
            )),
            ..r(
                "PATCH",
                &format!("/api/v1/company/employees/{}", ids.employee),
                Audience::Company,
                Some(json!({ "display_name": "Eve E." })),
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            foreign: Some((
                format!("/api/v1/company/employees/{}/deactivate", ids.employee),
                their_admin.clone(),
            )),
            ..r(
                "POST",
                &format!("/api/v1/company/employees/{}/deactivate", ids.employee),
                Audience::Company,
                None,
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            foreign: Some((
                format!("/api/v1/company/employees/{}/reactivate", ids.employee),
                their_admin.clone(),
            )),
            ..r(
                "POST",
                &format!("/api/v1/company/employees/{}/reactivate", ids.employee),
                Audience::Company,
                None,
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            ..r(
                "POST",
                "/api/v1/company/teams",
                Audience::Company,
                Some(json!({ "name": "ops" })),
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            foreign: Some((
                format!("/api/v1/company/teams/{}", ids.team),
                their_admin.clone(),
            )),
            ..r(
                "PATCH",
                &format!("/api/v1/company/teams/{}", ids.team),
                Audience::Company,
                Some(json!({ "name": "platform" })),
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            foreign: Some((
                format!("/api/v1/company/teams/{}", ids.team),
                their_admin.clone(),
            )),
            ..r(
                "DELETE",
                &format!("/api/v1/company/teams/{}", ids.team),
                Audience::Company,
                None,
            )
        },
        Route {
            forbidden: employee.clone(),
            foreign: Some((
                format!("/api/v1/company/audit?actor_id={}", ids.employee),
                their_admin.clone(),
            )),
            ..r("GET", "/api/v1/company/audit", Audience::Company, None)
        },
        Route {
            forbidden: Some(w.manager.clone()),
            ..r(
                "GET",
                "/api/v1/company/audit/verify",
                Audience::Company,
                None,
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            ..r(
                "GET",
                &format!("/api/v1/company/usage?from={today}&to={today}"),
                Audience::Company,
                None,
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            ..r("GET", "/api/v1/company/alerts", Audience::Company, None)
        },
        Route {
            forbidden: Some(w.manager.clone()),
            ..r(
                "GET",
                "/api/v1/company/alerts/settings",
                Audience::Company,
                None,
            )
        },
        Route {
            forbidden: Some(w.manager.clone()),
            ..r(
                "PUT",
                "/api/v1/company/alerts/settings",
                Audience::Company,
                Some(json!({ "offline_minutes": 30, "high_idle_enabled": false })),
            )
        },
        // Company: ADMIN and MANAGER.
        Route {
            forbidden: Some(w.owner.clone()),
            ..r("GET", "/api/v1/company/policy", Audience::Company, None)
        },
        Route {
            forbidden: Some(w.owner.clone()),
            ..r("GET", "/api/v1/company/employees", Audience::Company, None)
        },
        Route {
            forbidden: Some(w.owner.clone()),
            foreign: Some((
                format!("/api/v1/company/employees/{}", ids.employee),
                their_admin.clone(),
            )),
            ..r(
                "GET",
                &format!("/api/v1/company/employees/{}", ids.employee),
                Audience::Company,
                None,
            )
        },
        Route {
            forbidden: Some(w.owner.clone()),
            ..r("GET", "/api/v1/company/teams", Audience::Company, None)
        },
    ];
    for list in [
        "agents",
        "sessions",
        "activity",
        "screenshots",
        "tasks",
        "corrections",
    ] {
        all.push(Route {
            forbidden: if list == "tasks" || list == "corrections" {
                employee.clone()
            } else {
                Some(w.owner.clone())
            },
            ..r(
                "GET",
                &format!("/api/v1/company/{list}"),
                Audience::Company,
                None,
            )
        });
    }
    let image = format!("/api/v1/company/screenshots/{}/image", ids.screenshot);
    all.push(Route {
        forbidden: Some(w.owner.clone()),
        foreign: Some((image.clone(), their_admin.clone())),
        ..r("GET", &image, Audience::Company, None)
    });
    let daily = format!(
        "/api/v1/company/reports/daily?user_id={}&date={today}",
        ids.employee
    );
    all.push(Route {
        forbidden: Some(w.owner.clone()),
        foreign: Some((daily.clone(), their_admin.clone())),
        ..r("GET", &daily, Audience::Company, None)
    });
    for report in [
        format!(
            "/api/v1/company/reports/monthly?year=2026&month=11&user_id={}",
            ids.employee
        ),
        format!(
            "/api/v1/company/reports/apps?from={today}&to={today}&user_id={}",
            ids.employee
        ),
        format!(
            "/api/v1/company/reports/websites?from={today}&to={today}&user_id={}",
            ids.employee
        ),
        format!(
            "/api/v1/company/exports/timesheet.csv?from={today}&to={today}&user_id={}",
            ids.employee
        ),
    ] {
        all.push(Route {
            forbidden: Some(w.owner.clone()),
            foreign: Some((report.clone(), their_admin.clone())),
            ..r("GET", &report, Audience::Company, None)
        });
    }
    all.push(Route {
        forbidden: employee.clone(),
        ..r(
            "POST",
            "/api/v1/company/tasks",
            Audience::Company,
            Some(json!({ "title": "Review", "assignee_id": ids.employee })),
        )
    });
    for decision in ["approve", "reject"] {
        let path = format!("/api/v1/company/corrections/{}/{decision}", ids.correction);
        all.push(Route {
            forbidden: employee.clone(),
            foreign: Some((path.clone(), their_admin.clone())),
            ..r(
                "POST",
                &path,
                Audience::Company,
                Some(json!({ "note": "ok" })),
            )
        });
    }
    // Every company user, about themselves; OWNER has no self of that kind.
    for path in [
        "/api/v1/me/day",
        "/api/v1/me/sessions",
        "/api/v1/me/tasks",
        "/api/v1/me/policy",
    ] {
        all.push(Route {
            forbidden: Some(w.owner.clone()),
            ..r("GET", path, Audience::Me, None)
        });
    }
    all.push(Route {
        forbidden: Some(w.owner.clone()),
        ..r(
            "GET",
            &format!("/api/v1/me/export?from={today}&to={today}"),
            Audience::Me,
            None,
        )
    });
    let complete = format!("/api/v1/me/tasks/{}/complete", ids.task);
    all.push(Route {
        forbidden: Some(w.owner.clone()),
        foreign: Some((complete.clone(), their_agent.clone())),
        ..r(
            "POST",
            &complete,
            Audience::Me,
            Some(json!({ "note": "done" })),
        )
    });
    all.push(Route {
        forbidden: Some(w.owner.clone()),
        ..r(
            "POST",
            "/api/v1/me/corrections",
            Audience::Me,
            Some(
                json!({ "starts_at": now - Duration::hours(5), "ends_at": now - Duration::hours(4),
                         "reason": "meeting offline" }),
            ),
        )
    });
    // OWNER.
    let company = format!("/api/v1/owner/companies/{acme}");
    let nowhere = format!("/api/v1/owner/companies/{missing}");
    let owner_route = |method, suffix: &str, body: Option<Value>| Route {
        forbidden: admin.clone(),
        foreign: if suffix.is_empty() && method == "POST" {
            None
        } else {
            Some((format!("{nowhere}{suffix}"), w.owner.clone()))
        },
        ..r(method, &format!("{company}{suffix}"), Audience::Owner, body)
    };
    all.push(Route {
        foreign: None,
        ..owner_route("GET", "", None)
    });
    all.last_mut().unwrap().foreign = Some((nowhere.clone(), w.owner.clone()));
    all.push(Route {
        forbidden: admin.clone(),
        ..r(
            "POST",
            "/api/v1/owner/companies",
            Audience::Owner,
            Some(json!({ "name": "initech", "admin": { "username": "boss", "password": "boss-password" } })),
        )
    });
    all.push(owner_route(
        "POST",
        "/plan",
        Some(json!({ "plan": "ENTERPRISE" })),
    ));
    all.push(owner_route(
        "POST",
        "/suspend",
        Some(json!({ "reason": "test" })),
    ));
    all.push(owner_route("POST", "/reactivate", None));
    all.push(owner_route("POST", "/rotate-key", None));
    all.push(owner_route(
        "PUT",
        "/retention",
        Some(json!({ "retention_days": 30 })),
    ));
    for path in [
        "/api/v1/owner/companies".to_owned(),
        format!("/api/v1/owner/reports?from={today}&to={today}"),
        "/api/v1/owner/no-sync".to_owned(),
        "/api/v1/owner/audit".to_owned(),
        "/api/v1/owner/audit/verify".to_owned(),
    ] {
        all.push(Route {
            forbidden: admin.clone(),
            ..r("GET", &path, Audience::Owner, None)
        });
    }
    all
}

/// The body to send on a route: JSON routes get theirs, screenshots a PNG.
async fn call(client: &Client, route: &Route, path: &str) -> Reply {
    match (&route.body, route.path.as_str()) {
        (Some(body), _) => client.call(route.method, path, Some(body)).await,
        (None, "/api/v1/agent/screenshots") => {
            let taken = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let path = format!("{path}?id={}&taken_at={taken}", uuid::Uuid::new_v4());
            client
                .raw(route.method, &path, &[("content-type", "image/png")], PNG)
                .await
        }
        (None, _) => client.call(route.method, path, None).await,
    }
}

#[track_caller]
fn refused(reply: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "{what}: {reply:?}"
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
}

/// The first plain field of a body: a wrong type there must be named.
fn first_scalar_field(body: &Value) -> Option<String> {
    body.as_object()?
        .iter()
        .find(|(_, v)| !v.is_object())
        .map(|(k, _)| k.clone())
}

async fn audit_sizes(w: &World) -> (u64, u64) {
    let company = w
        .admin
        .get("/api/v1/company/audit/verify")
        .await
        .expect(200);
    let platform = w.owner.get("/api/v1/owner/audit/verify").await.expect(200);
    (
        company.body["events"].as_u64().unwrap(),
        platform.body["events"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_what_it_must() {
    let w = world().await;
    let before = audit_sizes(&w).await;
    let stranger = w.server.anonymous();
    let routes = routes(&w);
    assert!(routes.len() >= 60, "{} routes", routes.len());
    for route in &routes {
        let what = format!("{} {}", route.method, route.path);

        // No token: 401, even with a valid company key.
        let reply = call(&stranger, route, &route.path).await;
        refused(
            &reply,
            401,
            "unauthenticated",
            &format!("{what} without a token"),
        );
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{what}");
        let reply = call(&stranger.with_key(&w.acme_key), route, &route.path).await;
        refused(
            &reply,
            401,
            "unauthenticated",
            &format!("{what} with a key alone"),
        );

        // Another company's token with this company's key: 401.
        let crossed = if route.audience == Audience::Agent {
            w.their_agent.with_key(&w.acme_key)
        } else {
            w.their_admin.with_key(&w.acme_key)
        };
        let reply = call(&crossed, route, &route.path).await;
        refused(
            &reply,
            401,
            "invalid_company_key",
            &format!("{what} crossed"),
        );

        if let Some(caller) = &route.forbidden {
            let reply = call(caller, route, &route.path).await;
            refused(
                &reply,
                403,
                "forbidden",
                &format!("{what} by a forbidden role"),
            );
        }
        if let Some((path, caller)) = &route.foreign {
            let reply = call(caller, route, path).await;
            refused(
                &reply,
                404,
                "not_found",
                &format!("{what} of another company"),
            );
        }

        let Some(body) = &route.body else { continue };
        let caller = match route.audience {
            Audience::Agent => &w.agent,
            Audience::Company => &w.admin,
            Audience::Me => &w.employee,
            Audience::Owner => &w.owner,
        };
        let send = |bytes: Vec<u8>| async move {
            let json = [("content-type", "application/json")];
            caller.raw(route.method, &route.path, &json, &bytes).await
        };
        refused(
            &send(b"{\"oops\": ".to_vec()).await,
            400,
            "malformed_json",
            &what,
        );
        if let Some(field) = first_scalar_field(body) {
            let mut wrong = body.clone();
            wrong[&field] = json!({ "not": "this" });
            let reply = send(wrong.to_string().into_bytes()).await;
            refused(&reply, 422, "invalid_body", &format!("{what} wrong type"));
            assert_eq!(reply.fields(), std::slice::from_ref(&field), "{what}");
        }
        let mut unknown = body.clone();
        unknown["surprise"] = json!(1);
        let reply = send(unknown.to_string().into_bytes()).await;
        refused(
            &reply,
            422,
            "invalid_body",
            &format!("{what} unknown field"),
        );
        assert_eq!(reply.fields(), ["surprise"], "{what}");
        // Each object of the body, at any depth, sent as the array of its
        // values (serde's other form of a struct) is refused.
        for pointer in object_pointers(body, String::new()) {
            let mut arrayed = body.clone();
            let node = arrayed.pointer_mut(&pointer).unwrap();
            let values: Vec<Value> = node.as_object().unwrap().values().cloned().collect();
            *node = Value::Array(values);
            let reply = send(arrayed.to_string().into_bytes()).await;
            refused(
                &reply,
                422,
                "invalid_body",
                &format!("{what} with {pointer:?} as an array"),
            );
            assert!(
                reply.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("expected an object")),
                "{what} {pointer:?}: {:?}",
                reply.body
            );
        }
        let mut padded = body.to_string().into_bytes();
        padded.extend(std::iter::repeat_n(b' ', JSON_LIMIT));
        refused(
            &send(padded).await,
            413,
            "payload_too_large",
            &format!("{what} oversize"),
        );
        let reply = caller
            .raw(
                route.method,
                &route.path,
                &[("content-type", "text/plain")],
                body.to_string().as_bytes(),
            )
            .await;
        refused(&reply, 415, "unsupported_media_type", &what);
    }
    // Nothing above changed anything: no audited action happened.
    assert_eq!(audit_sizes(&w).await, before);
}

/// The JSON pointers of every object in `value`, itself included.
fn object_pointers(value: &Value, at: String) -> Vec<String> {
    let mut found = Vec::new();
    match value {
        Value::Object(map) => {
            found.push(at.clone());
            for (key, v) in map {
                found.extend(object_pointers(v, format!("{at}/{key}")));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                found.extend(object_pointers(v, format!("{at}/{i}")));
            }
        }
        _ => {}
    }
    found
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z0-9:\\-T.]{0,30}".prop_map(Value::from),
        Just(json!(uuid::Uuid::nil())),
        Just(json!("2026-11-21T10:00:00Z")),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("events".to_owned()),
                    Just("id".to_owned()),
                    Just("started_at".to_owned()),
                    Just("duration_seconds".to_owned()),
                    Just("kind".to_owned()),
                    Just("policy_version".to_owned()),
                    Just("stopped_at".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An activity batch whose events are near-valid: right names, any values.
fn near_valid_batch() -> impl Strategy<Value = Value> {
    let event = (
        any_json(),
        prop_oneof![any_json(), Just(json!("2026-11-21T10:00:00Z"))],
        prop_oneof![any_json(), (0u64..100_000).prop_map(Value::from)],
        prop_oneof![Just(json!("active")), Just(json!("idle")), any_json()],
    )
        .prop_map(|(id, started, duration, kind)| {
            json!({ "id": id, "started_at": started, "duration_seconds": duration, "kind": kind })
        });
    prop::collection::vec(event, 0..8).prop_map(|events| json!({ "events": events }))
}

#[test]
fn random_json_at_the_ingest_routes_never_gets_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let w = rt.block_on(world());
    let session = w.ids.session.clone();
    let routes = [
        "/api/v1/agent/heartbeat".to_owned(),
        "/api/v1/agent/sessions".to_owned(),
        format!("/api/v1/agent/sessions/{session}/stop"),
        "/api/v1/agent/activity".to_owned(),
        "/api/v1/auth/login".to_owned(),
    ];
    let config = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(route in 0..routes.len(), body in prop_oneof![any_json(), near_valid_batch()])| {
        let reply = rt.block_on(w.agent.post(&routes[route], &body));
        prop_assert!(
            (200..500).contains(&reply.status),
            "{} with {body}: {reply:?}", routes[route]
        );
    });
}
