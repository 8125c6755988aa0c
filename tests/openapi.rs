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

    let (server, doc) = served_document().await;
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
    let (_, key_agent) = acme(&server).await;
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

/// The document served by a fresh server, and the server.
async fn served_document() -> (Server, Value) {
    let server = Server::start(Arc::new(MemoryStore::new())).await;
    let doc = server
        .anonymous()
        .get("/api/v1/openapi.json")
        .await
        .expect(200)
        .body;
    (server, doc)
}

/// The company "acme" with its first ADMIN, written "Ada": what creating
/// it answered, and "ada" signed in with the company key.
async fn acme(server: &Server) -> (Value, tracker_axum::testing::Client) {
    let created = server
        .owner()
        .await
        .post(
            "/api/v1/owner/companies",
            &serde_json::json!({ "name": "acme", "admin": { "username": "Ada", "password": "ada-password" } }),
        )
        .await
        .expect(201)
        .body;
    let key = created["company_key"].as_str().unwrap().to_owned();
    let ada = server.login(Some(&key), "ada", "ada-password").await;
    (created, ada)
}

/// Every response a route can give, by what it takes: a page can be out of
/// range (422), an id filter or a path id can name nothing (404), a query
/// can be malformed (400), and a JSON body can be malformed, too large, of
/// another media type or invalid (400, 413, 415, 422).
#[tokio::test(flavor = "multi_thread")]
async fn every_route_lists_the_refusals_its_inputs_can_cause() {
    let (_server, doc) = served_document().await;
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params: BTreeMap<&str, &str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
                .collect();
            let mut need = BTreeSet::new();
            if params.contains_key("cursor") || params.contains_key("limit") {
                need.insert("422");
            }
            if ["user_id", "assignee_id"]
                .iter()
                .any(|f| params.contains_key(f))
                || params.values().any(|at| *at == "path")
            {
                need.insert("404");
            }
            if params.values().any(|at| *at == "query") {
                need.insert("400");
            }
            if op["requestBody"]["content"]["application/json"].is_object() {
                need.extend(["400", "413", "415", "422"]);
            }
            let listed = op["responses"].as_object().unwrap();
            for status in need {
                if !listed.contains_key(status) {
                    missing.push(format!("{} {path}: {status}", method.to_uppercase()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "not documented: {missing:#?}");
}

/// The lengths and patterns the validators hold to are in the document,
/// from the same constants; roles that cannot be written are not offered.
#[tokio::test(flavor = "multi_thread")]
async fn the_document_states_lengths_patterns_and_writable_roles() {
    use tracker_core::paging::{ID_CURSOR_PATTERN, SEQ_CURSOR_PATTERN, TIME_CURSOR_PATTERN};
    use tracker_core::text::{EMAIL_PATTERN, TEXT_PATTERN, USERNAME_PATTERN, WEBHOOK_URL_PATTERN};

    let (_server, doc) = served_document().await;
    let schemas = &doc["components"]["schemas"];
    let field = |schema: &str, name: &str| schemas[schema]["properties"][name].clone();
    let shape = |v: &Value| {
        (
            v["minLength"].as_u64(),
            v["maxLength"].as_u64(),
            v["pattern"].as_str().map(str::to_owned),
        )
    };
    let text = |min, max| (Some(min), Some(max), Some(TEXT_PATTERN.to_owned()));
    for (schema, name, expected) in [
        (
            "NewUser",
            "username",
            (Some(3), Some(64), Some(USERNAME_PATTERN.to_owned())),
        ),
        ("NewUser", "password", (Some(8), Some(1024), None)),
        (
            "NewUser",
            "email",
            (None, Some(254), Some(EMAIL_PATTERN.to_owned())),
        ),
        ("UserChanges", "display_name", text(1, 200)),
        ("NewTeam", "name", text(1, 200)),
        ("NewTask", "title", text(1, 200)),
        ("NewCorrection", "reason", text(1, 2000)),
        ("HeartbeatRequest", "agent_version", text(1, 64)),
        ("CreateCompany", "name", text(1, 200)),
        ("WebhookInput", "secret", text(16, 256)),
        (
            "WebhookInput",
            "url",
            (None, Some(2048), Some(WEBHOOK_URL_PATTERN.to_owned())),
        ),
        ("ActivityInput", "window_title", (None, Some(1024), None)),
    ] {
        assert_eq!(shape(&field(schema, name)), expected, "{schema}.{name}");
    }
    let events = field("ActivityBatch", "events");
    assert_eq!(
        (&events["minItems"], &events["maxItems"]),
        (&serde_json::json!(1), &serde_json::json!(1000))
    );

    // OWNER is never written: not offered to employees' roles, and the
    // first user of a company is an ADMIN.
    let named = |reference: &Value| {
        let name = reference.as_str().unwrap().rsplit('/').next().unwrap();
        schemas[name].clone()
    };
    let roles = |v: Value| named(&v["oneOf"][0]["$ref"])["enum"].clone();
    let company_roles = serde_json::json!(["ADMIN", "MANAGER", "EMPLOYEE"]);
    assert_eq!(roles(field("NewUser", "role")), company_roles);
    assert_eq!(roles(field("UserChanges", "role")), company_roles);
    let first_admin = named(&field("CreateCompany", "admin")["$ref"]);
    assert_eq!(
        roles(first_admin["properties"]["role"].clone()),
        serde_json::json!(["ADMIN"])
    );

    // Each list's cursor has its key's shape.
    let cursor = |path: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "cursor")
            .map(|p| p["schema"]["pattern"].clone())
            .unwrap()
    };
    assert_eq!(cursor("/api/v1/company/employees"), ID_CURSOR_PATTERN);
    assert_eq!(cursor("/api/v1/company/activity"), TIME_CURSOR_PATTERN);
    assert_eq!(cursor("/api/v1/company/audit"), SEQ_CURSOR_PATTERN);
    assert_eq!(cursor("/api/v1/owner/audit"), SEQ_CURSOR_PATTERN);
}

/// What the document allows, the server takes: `null` for an optional
/// body, an integer written `36.0`, any cursor of a list's shape; and what
/// it refuses, the server refuses with the field named.
#[tokio::test(flavor = "multi_thread")]
async fn the_server_takes_what_the_document_allows() {
    let (server, _doc) = served_document().await;
    let owner = server.owner().await;
    let (created, with_key) = acme(&server).await;
    let company = created["company"]["id"].as_str().unwrap().to_owned();
    let ada_id = created["admin"]["id"].as_str().unwrap().to_owned();
    // Written as given, stored and signed in with in lower case.
    assert_eq!(created["admin"]["username"], "ada");
    let admin = with_key.without_key();

    // Integers with a zero fraction, as JSON Schema's `integer` allows.
    let interval = |seconds: f64| {
        let admin = admin.clone();
        async move {
            let body = serde_json::json!({ "screenshot_interval_seconds": seconds });
            admin.put("/api/v1/company/policy", &body).await
        }
    };
    let policy = interval(120.0).await.expect(200);
    assert_eq!(policy.body["screenshot_interval_seconds"], 120);
    let half = interval(120.5).await.expect(422);
    assert_eq!(half.fields(), ["screenshot_interval_seconds"]);

    // A well-formed cursor no page gave out is a place in the list; a
    // malformed one is refused.
    for (path, cursor) in [
        ("/api/v1/company/employees", uuid::Uuid::max().to_string()),
        (
            "/api/v1/company/activity",
            format!("0_{}", uuid::Uuid::nil().simple()),
        ),
        ("/api/v1/company/audit", "999999999999999999".to_owned()),
    ] {
        let page = admin
            .get(&format!("{path}?cursor={cursor}"))
            .await
            .expect(200);
        assert!(page.body["items"].is_array(), "{path}");
        let bad = admin
            .get(&format!("{path}?cursor=x{cursor}"))
            .await
            .expect(422);
        assert_eq!(bad.fields(), ["cursor"], "{path}");
    }
    // 19 digits could pass i64 in a SQL store: refused.
    admin
        .get("/api/v1/company/audit?cursor=9999999999999999999")
        .await
        .expect(422);

    // A blank name is refused as blank; one with spaces around is a name.
    let blank = admin
        .post(
            "/api/v1/company/teams",
            &serde_json::json!({ "name": " \u{3000}" }),
        )
        .await
        .expect(422);
    assert_eq!(blank.fields(), ["name"]);
    admin
        .post(
            "/api/v1/company/teams",
            &serde_json::json!({ "name": " Ops " }),
        )
        .await
        .expect(201);

    // An ADMIN's own role is a conflict with who is asking, not a bad field.
    let own = admin
        .patch(
            &format!("/api/v1/company/employees/{ada_id}"),
            &serde_json::json!({ "role": "EMPLOYEE" }),
        )
        .await
        .expect(409);
    assert_eq!(own.code(), "invalid_state");
    let year = admin
        .get("/api/v1/company/reports/monthly?year=0&month=1")
        .await
        .expect(422);
    assert_eq!(year.fields(), ["year"]);

    // `null` where an optional body may be left out.
    let null = |client: &tracker_axum::testing::Client, path: String| {
        let client = client.clone();
        async move {
            client
                .raw(
                    "POST",
                    &path,
                    &[("content-type", "application/json")],
                    b"null",
                )
                .await
        }
    };
    let amount = owner
        .post(
            &format!("/api/v1/owner/companies/{company}/plan"),
            &serde_json::json!({ "plan": "PRO", "amount_cents": (i64::MAX as u64) + 1 }),
        )
        .await
        .expect(422);
    assert_eq!(amount.fields(), ["amount_cents"]);
    null(&owner, format!("/api/v1/owner/companies/{company}/suspend"))
        .await
        .expect(200);
    let company_now = owner
        .get(&format!("/api/v1/owner/companies/{company}"))
        .await
        .expect(200);
    assert_eq!(
        company_now.body["company"]["status"], "SUSPENDED",
        "{:?}",
        company_now.body
    );
}
