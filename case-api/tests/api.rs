//! The case API through its router (`oneshot`, no socket), each test on SQLite and on
//! PostgreSQL (127.0.0.1:5432 or `HOTLINE_TEST_POSTGRES`; unreachable is a failure).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{Backend, Harness, assert_error};
use hotline_case_api::Role;
use serde_json::{Value, json};

on_both!(
    migrations_are_idempotent_and_sqlite_uses_wal,
    openapi_request_ids_and_unknown_routes,
    case_lifecycle_and_permissions,
    list_paginates_with_a_cursor_and_filters,
    login_failures_and_token_checks,
    refresh_tokens_rotate,
    api_keys_authenticate_integrations,
    audit_chain_verifies_and_names_the_altered_row,
    bad_input_gets_4xx_with_the_error_body,
    tenant_isolation_matrix,
    concurrent_writes_keep_ids_and_chain_intact,
);

async fn migrations_are_idempotent_and_sqlite_uses_wal(h: Harness) {
    h.db.migrate().await.expect("second migrate is a no-op");
    if let Backend::Sqlite = h.backend {
        use sqlx::Row;
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(h.db.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query("PRAGMA foreign_keys")
            .fetch_one(h.db.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(fk, 1);
    }
}

async fn openapi_request_ids_and_unknown_routes(h: Harness) {
    let r = h.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/keys",
        "/api/cases",
        "/api/cases/{id}",
        "/api/cases/{id}/resolve",
        "/api/cases/{id}/reopen",
        "/api/audit/verify",
    ] {
        assert!(r.body["paths"][path].is_object(), "{path} missing");
    }
    let generated = r.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32);

    let req = Request::builder()
        .uri("/api/no/such/thing")
        .header("x-request-id", "client-chosen-42")
        .body(Body::empty())
        .unwrap();
    let r = h.send(req).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(r.headers["x-request-id"], "client-chosen-42");

    // No route deletes anything: not cases, not audit rows.
    for uri in ["/api/cases/1", "/api/audit/verify"] {
        let r = h.call(Method::DELETE, uri, None, None).await;
        assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
    let r = h.call(Method::DELETE, "/api/audit", None, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");

    // A header that is not a usable id is replaced.
    let req = Request::builder()
        .uri("/api/cases")
        .header("x-request-id", "has space")
        .body(Body::empty())
        .unwrap();
    let r = h.send(req).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_ne!(r.headers["x-request-id"], "has space");
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
}

async fn case_lifecycle_and_permissions(h: Harness) {
    h.user("acme", "ann", Role::Agent).await;
    let sue = h.user("acme", "sue", Role::Supervisor).await;
    let agent = h.login("acme", "ann").await;
    let sup = h.login("acme", "sue").await;

    let r = h
        .post(
            "/api/cases",
            &agent,
            json!({"title": "Caller needs help", "description": "Lost keys", "priority": "high"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["status"], "open");
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["assignee"], Value::Null);
    assert_eq!(r.body["created_by"], "user:1");
    assert_eq!(r.body["created_at"], "2026-05-01T12:00:00.000Z");

    // Defaults, and assigning needs the supervisor's permission.
    let r = h.post("/api/cases", &agent, json!({"title": "x"})).await;
    assert_eq!(r.body["priority"], "normal");
    assert_eq!(r.body["description"], "");
    let r = h
        .post("/api/cases", &agent, json!({"title": "x", "assignee": sue}))
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = h
        .post("/api/cases", &sup, json!({"title": "x", "assignee": 99}))
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(r.body["error"]["fields"]["assignee"].is_string());

    let r = h.get(&format!("/api/cases/{id}"), &agent).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["title"], "Caller needs help");

    h.clock.advance(60_000);
    let r = h
        .patch(
            &format!("/api/cases/{id}"),
            &agent,
            json!({"title": "Keys lost"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["title"], "Keys lost");
    assert_eq!(r.body["description"], "Lost keys");
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["updated_at"], "2026-05-01T12:01:00.000Z");
    let r = h
        .patch(
            &format!("/api/cases/{id}"),
            &agent,
            json!({"assignee": sue}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = h
        .patch(&format!("/api/cases/{id}"), &sup, json!({"assignee": sue}))
        .await;
    assert_eq!(r.body["assignee"], sue);
    let r = h
        .patch(&format!("/api/cases/{id}"), &sup, json!({"assignee": null}))
        .await;
    assert_eq!(r.body["assignee"], Value::Null);

    let r = h
        .call(
            Method::POST,
            &format!("/api/cases/{id}/resolve"),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "resolved");
    assert_eq!(r.body["resolved_at"], "2026-05-01T12:01:00.000Z");
    let r = h
        .call(
            Method::POST,
            &format!("/api/cases/{id}/resolve"),
            Some(&agent),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    let r = h
        .call(
            Method::POST,
            &format!("/api/cases/{id}/reopen"),
            Some(&agent),
            None,
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = h
        .call(
            Method::POST,
            &format!("/api/cases/{id}/reopen"),
            Some(&sup),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "open");
    assert_eq!(r.body["resolved_at"], Value::Null);
    let r = h
        .call(
            Method::POST,
            &format!("/api/cases/{id}/reopen"),
            Some(&sup),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");

    for uri in ["/api/cases/999", "/api/cases/abc", "/api/cases/-1"] {
        assert_error(
            &h.get(uri, &agent).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
}

async fn list_paginates_with_a_cursor_and_filters(h: Harness) {
    let sue = h.user("acme", "sue", Role::Supervisor).await;
    let sup = h.login("acme", "sue").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let assignee = if i % 2 == 0 {
            Value::from(sue)
        } else {
            Value::Null
        };
        let r = h
            .post(
                "/api/cases",
                &sup,
                json!({"title": format!("case {i}"), "assignee": assignee}),
            )
            .await;
        ids.push(r.body["id"].as_i64().unwrap());
    }
    h.call(
        Method::POST,
        &format!("/api/cases/{}/resolve", ids[1]),
        Some(&sup),
        None,
    )
    .await;

    let mut seen = Vec::new();
    let mut uri = "/api/cases?limit=3".to_owned();
    loop {
        let r = h.get(&uri, &sup).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|c| c["id"].as_i64().unwrap()));
        match r.body["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/cases?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let r = h.get("/api/cases?status=resolved", &sup).await;
    let got: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![ids[1]]);
    let r = h
        .get(
            &format!("/api/cases?assignee={sue}&status=open&limit=2"),
            &sup,
        )
        .await;
    let got: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![ids[0], ids[2]]);
    assert!(r.body["next_cursor"].is_string());
}

async fn login_failures_and_token_checks(h: Harness) {
    h.user("acme", "ann", Role::Agent).await;
    let wrong = |tenant: &str, user: &str, pw: &str| json!({"tenant": tenant, "username": user, "password": pw});
    for body in [
        wrong("acme", "ann", "nope"),
        wrong("acme", "bob", "pw-123456"),
        wrong("other", "ann", "pw-123456"),
    ] {
        let r = h
            .call(Method::POST, "/api/auth/login", None, Some(body))
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let token = h.login("acme", "ann").await;
    assert_eq!(h.get("/api/cases", &token).await.status, StatusCode::OK);

    // No header, another scheme, garbage.
    let r = h.call(Method::GET, "/api/cases", None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let req = Request::builder()
        .uri("/api/cases")
        .header(header::AUTHORIZATION, format!("Basic {token}"))
        .body(Body::empty())
        .unwrap();
    assert_error(
        &h.send(req).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_error(
        &h.get("/api/cases", "not.a.jwt").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );

    // Forged: claims rewritten to admin, signature kept; and a token signed with another key.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    assert_error(
        &h.get("/api/audit/verify", &forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let other = hotline_case_api::JwtKey::new(vec![1; 32]).unwrap();
    let foreign = other.sign(&serde_json::from_value(claims.clone()).unwrap());
    assert_error(
        &h.get("/api/audit/verify", &foreign).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert_error(
        &h.get("/api/cases", &none).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );

    // Expiry: valid at 14:59, refused at 15:00.
    h.clock.advance(15 * 60 * 1000 - 1000);
    assert_eq!(h.get("/api/cases", &token).await.status, StatusCode::OK);
    h.clock.advance(1000);
    assert_error(
        &h.get("/api/cases", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

async fn refresh_tokens_rotate(h: Harness) {
    h.user("acme", "ann", Role::Agent).await;
    let first = h.login_full("acme", "ann").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(r1.starts_with("hr_"));
    assert_eq!(first["expires_in"], 900);

    let refresh = |t: &str| {
        h.call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": t})),
        )
    };
    h.clock.advance(20 * 60 * 1000);
    let r = refresh(&r1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let r2 = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(h.get("/api/cases", &access).await.status, StatusCode::OK);

    // The spent token is refused, and presenting it again ends the whole session family.
    assert_error(
        &refresh(&r1).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_error(
        &refresh(&r2).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    // A fresh login works; its refresh token expires after 30 days.
    let r3 = h.login_full("acme", "ann").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.clock.advance(30 * 24 * 3600 * 1000);
    assert_error(
        &refresh(&r3).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    assert_error(
        &refresh("hr_unknown").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

async fn api_keys_authenticate_integrations(h: Harness) {
    h.user("acme", "root", Role::Admin).await;
    h.user("acme", "sue", Role::Supervisor).await;
    let admin = h.login("acme", "root").await;
    let sup = h.login("acme", "sue").await;
    let r = h.post("/api/keys", &sup, json!({"name": "crm"})).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = h
        .post(
            "/api/keys",
            &admin,
            json!({"name": "crm", "role": "supervisor"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let key = r.body["key"].as_str().unwrap().to_owned();
    let prefix = r.body["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("hk_") && key.starts_with(&prefix));

    let r = h
        .post("/api/cases", &key, json!({"title": "from the CRM"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["created_by"], format!("key:{prefix}"));
    // Supervisor key: no audit verification, no key creation.
    assert_error(
        &h.get("/api/audit/verify", &key).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let mut wrong = key.clone();
    wrong.pop();
    wrong.push('A');
    if wrong == key {
        wrong.pop();
        wrong.push('B');
    }
    assert_error(
        &h.get("/api/cases", &wrong).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    // Only the hash is stored.
    use sqlx::Row;
    let stored: String = sqlx::query("SELECT key_hash FROM api_keys")
        .fetch_one(h.db.pool())
        .await
        .unwrap()
        .get(0);
    assert_ne!(stored, key);
    assert_eq!(stored.len(), 64);
    let r = h.post("/api/keys", &admin, json!({"name": " "})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
}

async fn audit_chain_verifies_and_names_the_altered_row(h: Harness) {
    use sqlx::Row;
    h.user("acme", "root", Role::Admin).await;
    h.user("acme", "ann", Role::Agent).await;
    let admin = h.login("acme", "root").await;
    let agent = h.login("acme", "ann").await;
    let id = h
        .post("/api/cases", &agent, json!({"title": "t"}))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let req = Request::builder()
        .uri(format!("/api/cases/{id}"))
        .header(header::AUTHORIZATION, format!("Bearer {agent}"))
        .header("x-request-id", "read-req-1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(req).await.status, StatusCode::OK);
    h.patch(
        &format!("/api/cases/{id}"),
        &agent,
        json!({"priority": "urgent"}),
    )
    .await;

    // The read was recorded with who, what and which request.
    let row = sqlx::query(
        "SELECT actor, action, object_type, object_id FROM audit \
         WHERE tenant_id = $1 AND request_id = $2",
    )
    .bind("acme")
    .bind("read-req-1")
    .fetch_one(h.db.pool())
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("actor"), "user:2");
    assert_eq!(row.get::<String, _>("action"), "case.read");
    assert_eq!(row.get::<String, _>("object_id"), id.to_string());

    let r = h.get("/api/audit/verify", &agent).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = h.get("/api/audit/verify", &admin).await;
    assert_eq!(r.status, StatusCode::OK);
    // 2 user creations, 2 logins, create, read, update.
    assert_eq!(r.body, json!({"ok": true, "rows": 7}));

    // Alter row 5 (the case creation) behind the API's back.
    let original: String = sqlx::query("SELECT detail FROM audit WHERE tenant_id = $1 AND seq = 5")
        .bind("acme")
        .fetch_one(h.db.pool())
        .await
        .unwrap()
        .get(0);
    sqlx::query("UPDATE audit SET detail = $1 WHERE tenant_id = $2 AND seq = 5")
        .bind(r#"{"title":"something else"}"#)
        .bind("acme")
        .execute(h.db.pool())
        .await
        .unwrap();
    let r = h.get("/api/audit/verify", &admin).await;
    assert_eq!(
        r.body,
        json!({"ok": false, "rows": 4, "broken": {"seq": 5, "reason": "hash_mismatch"}})
    );
    sqlx::query("UPDATE audit SET detail = $1 WHERE tenant_id = $2 AND seq = 5")
        .bind(&original)
        .bind("acme")
        .execute(h.db.pool())
        .await
        .unwrap();
    assert_eq!(h.get("/api/audit/verify", &admin).await.body["ok"], true);

    // A deleted row breaks the link of the next one.
    sqlx::query("DELETE FROM audit WHERE tenant_id = $1 AND seq = 3")
        .bind("acme")
        .execute(h.db.pool())
        .await
        .unwrap();
    let r = h.get("/api/audit/verify", &admin).await;
    assert_eq!(r.body["broken"], json!({"seq": 4, "reason": "gap"}));
}

async fn bad_input_gets_4xx_with_the_error_body(h: Harness) {
    h.user("acme", "sue", Role::Supervisor).await;
    let sup = h.login("acme", "sue").await;
    let id = h.post("/api/cases", &sup, json!({"title": "t"})).await.body["id"]
        .as_i64()
        .unwrap();
    let raw = |method: Method, uri: &str, ctype: Option<&str>, body: Vec<u8>| {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {sup}"));
        if let Some(c) = ctype {
            req = req.header(header::CONTENT_TYPE, c);
        }
        h.send(req.body(Body::from(body)).unwrap())
    };
    let json_ct = Some("application/json");

    let r = raw(
        Method::POST,
        "/api/cases",
        json_ct,
        b"{\"title\": ".to_vec(),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
    let r = raw(
        Method::POST,
        "/api/cases",
        json_ct,
        b"{\"title\":\"a\"} []".to_vec(),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
    let r = raw(
        Method::POST,
        "/api/cases",
        None,
        b"{\"title\":\"a\"}".to_vec(),
    )
    .await;
    assert_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let r = raw(
        Method::POST,
        "/api/cases",
        Some("text/plain"),
        b"{}".to_vec(),
    )
    .await;
    assert_error(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let r = h
        .post("/api/cases", &sup, json!({"title": "a", "severity": 1}))
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(
        r.body["error"]["fields"].to_string().contains("severity"),
        "{}",
        r.body
    );
    let r = h.post("/api/cases", &sup, json!({"title": 5})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(r.body["error"]["fields"]["title"].is_string(), "{}", r.body);
    let r = h
        .post(
            "/api/cases",
            &sup,
            json!({"title": "a", "priority": "asap"}),
        )
        .await;
    assert!(
        r.body["error"]["fields"]["priority"].is_string(),
        "{}",
        r.body
    );
    let r = h
        .post("/api/cases", &sup, json!({"description": "no title"}))
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = h.post("/api/cases", &sup, json!({"title": "   "})).await;
    assert!(r.body["error"]["fields"]["title"].is_string(), "{}", r.body);
    let r = h
        .post("/api/cases", &sup, json!({"title": "x".repeat(201)}))
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = h.post("/api/cases", &sup, json!([1, 2])).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = h
        .patch(
            &format!("/api/cases/{id}"),
            &sup,
            json!({"assignee": "bob"}),
        )
        .await;
    assert!(
        r.body["error"]["fields"]["assignee"].is_string(),
        "{}",
        r.body
    );
    let r = h
        .patch(
            &format!("/api/cases/{id}"),
            &sup,
            json!({"status": "resolved"}),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // Oversize: 2 MiB of valid JSON.
    let big =
        serde_json::to_vec(&json!({"title": "a", "description": "x".repeat(2 << 20)})).unwrap();
    let r = raw(Method::POST, "/api/cases", json_ct, big).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    for uri in [
        "/api/cases?limit=abc",
        "/api/cases?limit=0",
        "/api/cases?limit=201",
        "/api/cases?cursor=%%%",
        "/api/cases?cursor=bm9wZQ",
        "/api/cases?status=closed",
        "/api/cases?sort=id",
    ] {
        let r = h.get(uri, &sup).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }

    // SQL-looking and odd text is data, stored and returned verbatim.
    for title in [
        "'); DROP TABLE cases; --",
        "1 OR 1=1",
        "$1 $2 ? :name",
        "Robert\"); DELETE FROM audit WHERE (\"1\"=\"1",
        "émoji 📞 and ünïcode",
    ] {
        let r = h
            .post(
                "/api/cases",
                &sup,
                json!({"title": title, "description": title}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let got = h.get(&format!("/api/cases/{}", r.body["id"]), &sup).await;
        assert_eq!(got.body["title"], title);
        assert_eq!(got.body["description"], title);
    }
    let r = h.get("/api/cases?limit=200", &sup).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 6);
}

/// Tenant A's every role (and an A API key) against every endpoint and every object of
/// tenant B: 403 or 404, never B's data; B's rows unchanged afterwards.
async fn tenant_isolation_matrix(h: Harness) {
    const SECRET: &str = "B-ONLY-SECRET";
    for (tenant, prefix) in [("tenant-a", "a"), ("tenant-b", "b")] {
        h.user(tenant, &format!("{prefix}-agent"), Role::Agent)
            .await;
        h.user(tenant, &format!("{prefix}-sup"), Role::Supervisor)
            .await;
        h.user(tenant, &format!("{prefix}-admin"), Role::Admin)
            .await;
    }
    let b_admin = h.login("tenant-b", "b-admin").await;
    let mut b_cases = Vec::new();
    for i in 0..3 {
        let r = h
            .post(
                "/api/cases",
                &b_admin,
                json!({"title": format!("{SECRET} {i}"), "description": SECRET, "assignee": 1}),
            )
            .await;
        b_cases.push(r.body["id"].as_i64().unwrap());
    }
    h.call(
        Method::POST,
        &format!("/api/cases/{}/resolve", b_cases[2]),
        Some(&b_admin),
        None,
    )
    .await;
    let b_before: Vec<Value> = {
        let mut v = Vec::new();
        for id in &b_cases {
            v.push(h.get(&format!("/api/cases/{id}"), &b_admin).await.body);
        }
        v
    };

    let a_admin = h.login("tenant-a", "a-admin").await;
    let a_key = h
        .post(
            "/api/keys",
            &a_admin,
            json!({"name": "a-int", "role": "admin"}),
        )
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut callers = Vec::new();
    for user in ["a-agent", "a-sup", "a-admin"] {
        callers.push((user.to_owned(), h.login("tenant-a", user).await));
    }
    callers.push(("a-key".to_owned(), a_key));

    let never_b = |who: &str, what: &str, r: &common::Reply| {
        let text = String::from_utf8_lossy(&r.raw);
        assert!(!text.contains(SECRET), "{who} {what} leaked B data: {text}");
        assert!(
            r.status.is_client_error() || r.status.is_success(),
            "{who} {what}: {}",
            r.status
        );
    };
    for (who, token) in &callers {
        for id in &b_cases {
            let uri = format!("/api/cases/{id}");
            let r = h.get(&uri, token).await;
            never_b(who, "GET", &r);
            assert_error(&r, StatusCode::NOT_FOUND, "not_found");
            let r = h.patch(&uri, token, json!({"title": "pwned"})).await;
            never_b(who, "PATCH", &r);
            assert_error(&r, StatusCode::NOT_FOUND, "not_found");
            let r = h.patch(&uri, token, json!({"assignee": 1})).await;
            never_b(who, "PATCH assignee", &r);
            assert!(
                matches!(r.status.as_u16(), 403 | 404),
                "{who}: {}",
                r.status
            );
            for action in ["resolve", "reopen"] {
                let r = h
                    .call(Method::POST, &format!("{uri}/{action}"), Some(token), None)
                    .await;
                never_b(who, action, &r);
                assert!(
                    matches!(r.status.as_u16(), 403 | 404),
                    "{who} {action}: {}",
                    r.status
                );
            }
        }
        for uri in [
            "/api/cases".to_owned(),
            "/api/cases?status=resolved".to_owned(),
            "/api/cases?assignee=1".to_owned(),
            format!("/api/cases?cursor={}", B64.encode("case:0")),
        ] {
            let r = h.get(&uri, token).await;
            never_b(who, &uri, &r);
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body["items"], json!([]), "{who} {uri}");
        }
        let r = h.get("/api/audit/verify", token).await;
        never_b(who, "verify", &r);
        if who == "a-admin" || who == "a-key" {
            assert_eq!(r.body["ok"], true);
        } else {
            assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
        }
        let r = h.post("/api/keys", token, json!({"name": "x"})).await;
        never_b(who, "keys", &r);
        // A's credentials name no user in B.
        let r = h
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"tenant": "tenant-b", "username": who, "password": "pw-123456"})),
            )
            .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }

    // A's own case 1 is A's, even though B has a case 1 too.
    let a_sup = &callers[1].1;
    let r = h
        .post("/api/cases", a_sup, json!({"title": "A's own"}))
        .await;
    assert_eq!(r.body["id"], 1);
    let r = h.get("/api/cases/1", a_sup).await;
    assert_eq!(r.body["title"], "A's own");

    // B's rows untouched, B's chain intact; tampering B's chain leaves A's verification alone.
    for (id, before) in b_cases.iter().zip(&b_before) {
        let now = h.get(&format!("/api/cases/{id}"), &b_admin).await.body;
        assert_eq!(&now, before);
    }
    assert_eq!(h.get("/api/audit/verify", &b_admin).await.body["ok"], true);
    sqlx::query("UPDATE audit SET actor = 'mallory' WHERE tenant_id = $1 AND seq = 2")
        .bind("tenant-b")
        .execute(h.db.pool())
        .await
        .unwrap();
    assert_eq!(h.get("/api/audit/verify", &b_admin).await.body["ok"], false);
    assert_eq!(h.get("/api/audit/verify", &a_admin).await.body["ok"], true);
}

async fn concurrent_writes_keep_ids_and_chain_intact(h: Harness) {
    h.user("acme", "root", Role::Admin).await;
    let admin = h.login("acme", "root").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let app = h.app.clone();
        let token = admin.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let req = Request::builder()
                .method(Method::POST)
                .uri("/api/cases")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({"title": format!("c{i}")}).to_string()))
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let r = h.get("/api/cases?limit=200", &admin).await;
    let ids: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=24).collect::<Vec<_>>());
    let r = h.get("/api/audit/verify", &admin).await;
    // user creation, login, 24 creations, the list.
    assert_eq!(r.body, json!({"ok": true, "rows": 27}));
}
