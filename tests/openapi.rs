//! The OpenAPI document over a real socket: it is OpenAPI 3.1, it lists
//! exactly the routes the router serves (read from the router's source),
//! every reference resolves, and every operation says how it succeeds,
//! how it is secured and how it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use tracker_axum::testing::Server;
use tracker_core::MemoryStore;

/// The source that builds the router: the list of routes is read from it,
/// so a route added there without an annotation fails this test.
const ROUTER_SOURCE: &str = include_str!("../tracker-axum/src/lib.rs");

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// `src` with the contents of comments and string literals blanked out,
/// byte for byte, so the structure of the code can be read at the same
/// indices without a `(`, `{` or `.route(` in a literal or a doc comment
/// counting.
fn mask(src: &str) -> Vec<u8> {
    let mut out = src.as_bytes().to_vec();
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            b'/' if out.get(i + 1) == Some(&b'/') => {
                while i < out.len() && out[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            // A character literal such as '"'.
            b'\'' if out.get(i + 2) == Some(&b'\'') => {
                out[i + 1] = b' ';
                i += 3;
            }
            b'"' => {
                i += 1;
                while i < out.len() && out[i] != b'"' {
                    let escaped = out[i] == b'\\';
                    out[i] = b' ';
                    if escaped && i + 1 < out.len() {
                        out[i + 1] = b' ';
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The index of the `)` that closes the `(` at `open`.
fn closing_paren(code: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, b) in code.iter().enumerate().skip(open) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced call at byte {open}");
}

/// The first string literal in `s`.
fn first_literal(s: &str) -> &str {
    let start = s.find('"').expect("a string literal") + 1;
    let len = s[start..].find('"').expect("a closing quote");
    &s[start..start + len]
}

/// The router variable a `.route(` at `at` is called on: the statement it
/// is in starts with `let [mut] NAME =` or `NAME =`.
fn receiver(code: &str, at: usize) -> &str {
    let start = code[..at].rfind([';', '{', '}']).map_or(0, |i| i + 1);
    let statement = code[start..at].trim_start();
    let statement = statement.strip_prefix("let ").unwrap_or(statement);
    let statement = statement.strip_prefix("mut ").unwrap_or(statement);
    statement
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .expect("a router variable")
}

/// Every (method, path) the router serves, from its `.route("…", get(…)
/// .post(…))` calls, with each router's `.nest("prefix", router)` applied.
fn served_routes() -> BTreeSet<(String, String)> {
    let src = ROUTER_SOURCE;
    let masked = mask(src);
    let code = std::str::from_utf8(&masked).expect("masking keeps UTF-8");
    let mut prefixes: BTreeMap<&str, &str> = BTreeMap::new();
    for (at, _) in code.match_indices(".nest(") {
        let open = at + ".nest".len();
        let close = closing_paren(&masked, open);
        let prefix = first_literal(&src[open + 1..close]);
        let router = code[open + 1..close].rsplit(',').next().expect("a router");
        prefixes.insert(router.trim(), prefix);
    }
    let mut routes = BTreeSet::new();
    for (at, _) in code.match_indices(".route(") {
        let open = at + ".route".len();
        let close = closing_paren(&masked, open);
        let path = first_literal(&src[open + 1..close]);
        let prefix = prefixes.get(receiver(code, at)).copied().unwrap_or("");
        let args = &code[open + 1..close];
        let handlers = &args[args.find(',').expect("a method router")..];
        let mut methods = 0;
        for method in METHODS {
            // `get(` at the start of the method router or `.get(` after
            // another method; never `….max(` of a layer.
            for (i, _) in handlers.match_indices(&format!("{method}(")) {
                let before = handlers[..i].trim_end().chars().last();
                if matches!(before, Some(',') | Some('.')) {
                    routes.insert((method.to_owned(), format!("{prefix}{path}")));
                    methods += 1;
                }
            }
        }
        assert!(methods > 0, "no method found for route {path}");
    }
    routes
}

/// Every (method, path) the document lists.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

/// Every `$ref` anywhere in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The names of the security schemes an operation requires, in any of its
/// alternatives.
fn schemes(op: &Value) -> BTreeSet<String> {
    op["security"]
        .as_array()
        .map(|alternatives| {
            alternatives
                .iter()
                .flat_map(|a| a.as_object().expect("a requirement").keys().cloned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_route_scan_reads_the_router() {
    let routes = served_routes();
    // A scan that silently found nothing would let every check pass.
    assert!(routes.len() > 60, "only {} routes found", routes.len());
    for expected in [
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/agent/screenshots"),
        ("put", "/api/v1/company/policy"),
        ("delete", "/api/v1/company/teams/{id}"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/healthz"),
        ("get", "/metrics"),
    ] {
        let expected = (expected.0.to_owned(), expected.1.to_owned());
        assert!(routes.contains(&expected), "{expected:?} not found");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_describes_every_route_served() {
    let server = Server::start(Arc::new(MemoryStore::new())).await;
    let reply = server
        .anonymous()
        .get("/api/v1/openapi.json")
        .await
        .expect(200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{reply:?}"
    );
    let doc = reply.body;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "openapi version {}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "tracker");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    // The same document as the library's.
    assert_eq!(doc, serde_json::to_value(tracker_axum::openapi()).unwrap());

    // Exactly the routes the router serves.
    let served = served_routes();
    let documented = documented_routes(&doc);
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(extra.is_empty(), "documented but not served: {extra:?}");

    // Every reference names a schema of the document.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r} is not a schema reference"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
    for name in ["Problem", "FieldError"] {
        assert!(schemas.contains_key(name), "no {name} schema");
    }

    let security_schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert_eq!(security_schemes["bearer"]["type"], "http");
    assert_eq!(security_schemes["bearer"]["scheme"], "bearer");
    assert_eq!(security_schemes["company_key"]["type"], "apiKey");
    assert_eq!(security_schemes["company_key"]["in"], "header");
    assert_eq!(security_schemes["company_key"]["name"], "X-Company-Key");

    let mut operation_ids = BTreeSet::new();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        let at = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(
            operation_ids.insert(id.to_owned()),
            "{at}: operationId {id:?} again"
        );
        assert!(
            op["tags"].as_array().is_some_and(|t| t.len() == 1),
            "{at}: one tag"
        );

        // Who may call it, as DESIGN.md §4 says.
        let required = schemes(op);
        for name in &required {
            assert!(
                security_schemes.contains_key(name),
                "{at}: unknown scheme {name}"
            );
        }
        let expected: &[&str] = if path.starts_with("/api/v1/agent/") {
            &["bearer", "company_key"]
        } else if ["company", "me", "owner"]
            .iter()
            .any(|a| path == &format!("/api/v1/{a}") || path.starts_with(&format!("/api/v1/{a}/")))
            || path == "/api/v1/auth/logout"
        {
            &["bearer"]
        } else {
            &[]
        };
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(required, expected, "{at}: security");

        // Path parameters are declared.
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
                });
                assert!(declared, "{at}: path parameter {name} not declared");
            }
        }

        // How it succeeds and how it fails.
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3')),
            "{at}: no success response"
        );
        if required.contains("bearer") {
            assert!(responses.contains_key("401"), "{at}: no 401");
        }
        for (status, response) in responses {
            let description = response["description"].as_str().unwrap_or_default();
            assert!(!description.is_empty(), "{at} {status}: no description");
            if status.starts_with('4') {
                let content = response["content"].as_object();
                let types: Vec<_> = content.into_iter().flat_map(|c| c.keys()).collect();
                assert_eq!(
                    types,
                    ["application/problem+json"],
                    "{at} {status}: problem media type"
                );
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{at} {status}"
                );
            }
        }
    }

    // And each documented route is routed: no `no_route`, no wrong method.
    let client = server.anonymous();
    for (method, path) in &documented {
        let path = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let reply = client.raw(&method.to_uppercase(), &path, &[], b"").await;
        assert!(
            !["no_route", "method_not_allowed"].contains(&reply.code()),
            "{method} {path}: {reply:?}"
        );
    }
}

/// The ranges the server enforces are in the document, with the numbers
/// the server checks (a fuzzer generates from them): the policy's, the
/// alert settings', a month's, retention's, and a policy version's int64.
#[tokio::test(flavor = "multi_thread")]
async fn the_document_states_the_ranges_the_server_enforces() {
    use tracker_core::policy::bounds;

    let server = Server::start(Arc::new(MemoryStore::new())).await;
    let doc = server
        .anonymous()
        .get("/api/v1/openapi.json")
        .await
        .expect(200)
        .body;
    let schemas = &doc["components"]["schemas"];
    let range = |schema: &str, field: &str| {
        let p = &schemas[schema]["properties"][field];
        (p["minimum"].as_u64(), p["maximum"].as_u64())
    };
    let expected = [
        (
            "PolicyUpdate",
            "screenshot_interval_seconds",
            bounds::SCREENSHOT_INTERVAL_MIN,
            bounds::SCREENSHOT_INTERVAL_MAX,
        ),
        (
            "PolicyUpdate",
            "idle_threshold_seconds",
            bounds::IDLE_THRESHOLD_MIN,
            bounds::IDLE_THRESHOLD_MAX,
        ),
        ("AlertSettingsUpdate", "no_sync_hours", 1, 720),
        ("AlertSettingsUpdate", "offline_minutes", 5, 1440),
        ("AlertSettingsUpdate", "high_idle_percent", 1, 100),
        ("AlertSettingsUpdate", "high_idle_min_minutes", 1, 1440),
        ("SetRetention", "retention_days", 1, 3650),
    ];
    for (schema, field, min, max) in expected {
        assert_eq!(
            range(schema, field),
            (Some(u64::from(min)), Some(u64::from(max))),
            "{schema}.{field}"
        );
    }
    assert_eq!(
        range("HeartbeatRequest", "policy_version"),
        (Some(0), Some(i64::MAX as u64))
    );
    let month = doc["paths"]["/api/v1/company/reports/monthly"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "month")
        .cloned()
        .unwrap();
    assert_eq!(
        (&month["schema"]["minimum"], &month["schema"]["maximum"]),
        (&serde_json::json!(1), &serde_json::json!(12))
    );

    // The server holds to them: one past each edge is refused.
    let key_agent = {
        let owner = server.owner().await;
        let created = owner
            .post(
                "/api/v1/owner/companies",
                &serde_json::json!({ "name": "acme", "admin": { "username": "ada", "password": "ada-password" } }),
            )
            .await
            .expect(201);
        let key = created.body["company_key"].as_str().unwrap().to_owned();
        server.login(Some(&key), "ada", "ada-password").await
    };
    let beat = key_agent
        .post(
            "/api/v1/agent/heartbeat",
            &serde_json::json!({ "policy_version": (i64::MAX as u64) + 1 }),
        )
        .await
        .expect(422);
    assert_eq!(beat.fields(), ["policy_version"]);
    let admin = key_agent.without_key();
    let policy = admin
        .put(
            "/api/v1/company/policy",
            &serde_json::json!({ "screenshot_interval_seconds": bounds::SCREENSHOT_INTERVAL_MIN - 1 }),
        )
        .await
        .expect(422);
    assert_eq!(policy.fields(), ["screenshot_interval_seconds"]);
}
