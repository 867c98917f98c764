//! Test harness: the case API router over a fresh SQLite file or a fresh PostgreSQL
//! database, driven with `oneshot` (no socket) and a hand-moved clock.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use hotline_case_api::auth::create_user;
use hotline_case_api::{AppState, Clock, Db, JwtKey, PasswordCost, Role};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// 2026-05-01T12:00:00Z.
pub const T0: i64 = 1_777_636_800_000;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the database lives; removed on drop.
enum Place {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl Drop for Place {
    fn drop(&mut self) {
        match self {
            Place::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Place::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a thread with its own runtime may block.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async {
                        if let Ok(db) = Db::connect(&admin_url).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(db.pool())
                            .await;
                            db.close().await;
                        }
                    })
                })
                .join();
            }
        }
    }
}

pub struct Harness {
    pub app: Router,
    pub state: AppState,
    pub db: Db,
    pub clock: Clock,
    pub backend: Backend,
    // Last: dropped after the pool's last user.
    _place: Place,
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut b = [0u8; 6];
    getrandom_bytes(&mut b);
    format!(
        "{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn getrandom_bytes(buf: &mut [u8]) {
    hotline_case_api::token::fill_random(buf).expect("OS randomness");
}

/// `postgres://…/postgres` → `postgres://…/<name>` (keeping any query string).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

pub async fn harness(backend: Backend) -> Harness {
    let (db, place) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("hotline-case-api-{}", unique()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let db = Db::sqlite_file(&dir.join("hotline.db"))
                .await
                .expect("open sqlite");
            (db, Place::Dir(dir))
        }
        Backend::Postgres => {
            let admin_url = std::env::var("HOTLINE_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("hotline_test_{}", unique());
            // Unreachable PostgreSQL fails the test: CI provides it.
            let admin = Db::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} unreachable: {e}"));
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(admin.pool())
                .await
                .expect("create test database");
            admin.close().await;
            let place = Place::Postgres {
                admin_url: admin_url.clone(),
                name: name.clone(),
            };
            let db = Db::connect(&with_database(&admin_url, &name))
                .await
                .expect("open test database");
            (db, place)
        }
    };
    db.migrate().await.expect("migrate");
    let clock = Clock::manual(T0);
    let state = AppState::new(
        db.clone(),
        JwtKey::new(b"test-secret-test-secret-test-secret!".to_vec()).unwrap(),
        clock.clone(),
    );
    Harness {
        app: hotline_case_api::router(state.clone()),
        state,
        db,
        clock,
        backend,
        _place: place,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Bytes,
}

impl Harness {
    pub async fn user(&self, tenant: &str, username: &str, role: Role) -> i64 {
        create_user(
            &self.db,
            tenant,
            username,
            "pw-123456",
            role,
            PasswordCost::insecure_fast(),
            self.clock.now_ms(),
        )
        .await
        .expect("create user")
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).unwrap()).await
    }

    pub async fn get(&self, uri: &str, token: &str) -> Reply {
        self.call(Method::GET, uri, Some(token), None).await
    }

    pub async fn post(&self, uri: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, uri, Some(token), Some(body)).await
    }

    pub async fn patch(&self, uri: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, uri, Some(token), Some(body)).await
    }

    /// Log in and return the whole token response.
    pub async fn login_full(&self, tenant: &str, username: &str) -> Value {
        let r = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(serde_json::json!({
                    "tenant": tenant, "username": username, "password": "pw-123456"
                })),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "login {tenant}/{username}: {}",
            r.body
        );
        r.body
    }

    /// Log in and return the access token.
    pub async fn login(&self, tenant: &str, username: &str) -> String {
        self.login_full(tenant, username).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Assert an error reply: status, `error.code`, and the body shape.
#[track_caller]
pub fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        r.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&r.raw)
    );
    assert_eq!(r.body["error"]["code"], code, "body: {}", r.body);
    assert!(r.body["error"]["message"].is_string(), "body: {}", r.body);
    assert!(r.body["error"]["fields"].is_object(), "body: {}", r.body);
}

/// One test body, run once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::common::harness(super::common::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::common::harness(super::common::Backend::Postgres).await).await
            }
        }
    )*};
}
