//! The reference API over real HTTP: every test starts its own server on 127.0.0.1:0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kaizen_loadtest::fixture::{self, FixtureConfig, FixtureHandle, Latency};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support;

/// A JSON client for one server; every call is bounded by the client timeout.
#[derive(Clone)]
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &FixtureHandle) -> Self {
        // reqwest is built without a default TLS provider; plain HTTP still needs one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Self {
            base: server.base_url(),
            http,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            // reqwest is built without its `json` feature.
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
        };
        (status, json)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    async fn register_and_login(&self, email: &str, organization: &str) -> String {
        let body =
            json!({ "email": email, "password": "correct-horse", "organization": organization });
        let (status, _) = self.post("/api/v1/auth/register", None, body).await;
        assert_eq!(status, 201, "register {email}");
        let body = json!({ "email": email, "password": "correct-horse" });
        let (status, login) = self.post("/api/v1/auth/login", None, body).await;
        assert_eq!(status, 200, "login {email}");
        login["access_token"].as_str().unwrap().to_owned()
    }
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

#[tokio::test]
async fn life_cycle_from_register_to_logout() {
    let server = support::api(FixtureConfig::default());
    let api = Api::new(&server);

    let (status, body) = api.get("/health", None).await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));

    // Register, then the same email again.
    let alice = json!({
        "email": "alice@acme.test",
        "password": "s3cret-pass",
        "organization": "acme",
        "name": "Alice",
    });
    let (status, user) = api.post("/api/v1/auth/register", None, alice.clone()).await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], "alice@acme.test");
    assert_eq!(user["name"], "Alice");
    assert!(
        user["id"].is_string() && user["organization_id"].is_string(),
        "{user}"
    );
    let (status, body) = api.post("/api/v1/auth/register", None, alice).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].is_string());

    // Login and me.
    let credentials = json!({ "email": "alice@acme.test", "password": "s3cret-pass" });
    let (status, login) = api
        .post("/api/v1/auth/login", None, credentials.clone())
        .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["token_type"], "bearer");
    assert_eq!(login["expires_in"], 3600);
    assert_eq!(login["user"], user);
    let token = str_of(&login, "access_token").to_owned();
    let refresh_token = str_of(&login, "refresh_token").to_owned();
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(token, refresh_token);
    let wrong = json!({ "email": "alice@acme.test", "password": "not-her-password" });
    assert_eq!(api.post("/api/v1/auth/login", None, wrong).await.0, 401);
    let (status, me) = api.get("/api/v1/auth/me", Some(&token)).await;
    assert_eq!((status, &me), (200, &user));

    // Agents: create three, page through them, read, update, delete.
    let mut agent_ids = Vec::new();
    for name in ["planner", "coder", "reviewer"] {
        let body = json!({ "name": name, "description": format!("the {name}") });
        let (status, agent) = api.post("/api/v1/agents", Some(&token), body).await;
        assert_eq!(status, 201, "{agent}");
        assert_eq!(agent["name"], name);
        assert_eq!(agent["organization_id"], user["organization_id"]);
        assert!(
            agent["model"].is_string()
                && agent["created_at"].is_string()
                && agent["updated_at"].is_string()
        );
        agent_ids.push(str_of(&agent, "id").to_owned());
    }
    let (status, page) = api.get("/api/v1/agents?page=2&limit=2", Some(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (
            page["total"].as_u64(),
            page["page"].as_u64(),
            page["limit"].as_u64()
        ),
        (Some(3), Some(2), Some(2))
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], agent_ids[2].as_str());
    let (_, page) = api.get("/api/v1/agents", Some(&token)).await;
    assert_eq!(
        (page["page"].as_u64(), page["limit"].as_u64()),
        (Some(1), Some(20)),
        "defaults"
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 3);

    let agent_path = format!("/api/v1/agents/{}", agent_ids[0]);
    let (status, agent) = api.get(&agent_path, Some(&token)).await;
    assert_eq!((status, agent["name"].as_str()), (200, Some("planner")));
    let update = json!({ "name": "architect", "model": "claude" });
    let (status, agent) = api
        .call(Method::PUT, &agent_path, Some(&token), Some(update))
        .await;
    assert_eq!(status, 200, "{agent}");
    assert_eq!(
        (agent["name"].as_str(), agent["model"].as_str()),
        (Some("architect"), Some("claude"))
    );
    assert_eq!(
        agent["description"], "the planner",
        "fields not sent are kept"
    );
    let (status, _) = api
        .call(Method::DELETE, &agent_path, Some(&token), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(api.get(&agent_path, Some(&token)).await.0, 404);
    assert_eq!(
        api.call(Method::DELETE, &agent_path, Some(&token), None)
            .await
            .0,
        404
    );
    assert_eq!(
        api.get("/api/v1/agents/agt_999999", Some(&token)).await.0,
        404
    );
    assert_eq!(
        api.get("/api/v1/agents/not-an-id", Some(&token)).await.0,
        404
    );

    // Another organization sees none of it.
    let mallory = api.register_and_login("mallory@evil.test", "evil").await;
    let other_path = format!("/api/v1/agents/{}", agent_ids[1]);
    assert_eq!(api.get(&other_path, Some(&mallory)).await.0, 404);
    let rename = json!({ "name": "pwned" });
    assert_eq!(
        api.call(Method::PUT, &other_path, Some(&mallory), Some(rename))
            .await
            .0,
        404
    );
    assert_eq!(
        api.call(Method::DELETE, &other_path, Some(&mallory), None)
            .await
            .0,
        404
    );
    let (_, page) = api.get("/api/v1/agents", Some(&mallory)).await;
    assert_eq!(page["total"], 0);
    // A colleague in the same organization sees it.
    let bob = api.register_and_login("bob@acme.test", "acme").await;
    assert_eq!(api.get(&other_path, Some(&bob)).await.0, 200);

    // Pipelines.
    let body = json!({ "name": "review", "agent_ids": [agent_ids[1], agent_ids[2]] });
    let (status, pipeline) = api.post("/api/v1/pipelines", Some(&token), body).await;
    assert_eq!(status, 201, "{pipeline}");
    assert_eq!(pipeline["agent_ids"], json!([agent_ids[1], agent_ids[2]]));
    let pipeline_id = str_of(&pipeline, "id").to_owned();
    let pipeline_path = format!("/api/v1/pipelines/{pipeline_id}");
    let (status, page) = api.get("/api/v1/pipelines?limit=100", Some(&token)).await;
    assert_eq!((status, page["total"].as_u64()), (200, Some(1)));
    let update = json!({ "description": "reviews code" });
    let (status, updated) = api
        .call(Method::PUT, &pipeline_path, Some(&token), Some(update))
        .await;
    assert_eq!(
        (
            status,
            updated["description"].as_str(),
            updated["name"].as_str()
        ),
        (200, Some("reviews code"), Some("review"))
    );
    assert_eq!(api.get(&pipeline_path, Some(&mallory)).await.0, 404);
    let (status, scratch) = api
        .post(
            "/api/v1/pipelines",
            Some(&token),
            json!({ "name": "scratch" }),
        )
        .await;
    assert_eq!(status, 201);
    let scratch_path = format!("/api/v1/pipelines/{}", str_of(&scratch, "id"));
    assert_eq!(
        api.call(Method::DELETE, &scratch_path, Some(&token), None)
            .await
            .0,
        204
    );
    assert_eq!(api.get(&scratch_path, Some(&token)).await.0, 404);

    // Deployments.
    let body = json!({ "pipeline_id": pipeline_id, "environment": "production" });
    let (status, deployment) = api.post("/api/v1/deployments", Some(&token), body).await;
    assert_eq!(status, 201, "{deployment}");
    assert_eq!(deployment["pipeline_id"], pipeline_id.as_str());
    assert_eq!(deployment["environment"], "production");
    assert_eq!(deployment["status"], "deployed");
    assert!(deployment["id"].is_string());
    let (status, deployment) = api
        .post(
            "/api/v1/deployments",
            Some(&token),
            json!({ "pipeline_id": pipeline_id }),
        )
        .await;
    assert_eq!(status, 201);
    assert!(
        deployment["environment"].is_string(),
        "a default environment"
    );
    let unknown = json!({ "pipeline_id": "pip_424242" });
    assert_eq!(
        api.post("/api/v1/deployments", Some(&token), unknown)
            .await
            .0,
        404
    );
    let theirs = json!({ "pipeline_id": pipeline_id });
    assert_eq!(
        api.post("/api/v1/deployments", Some(&mallory), theirs)
            .await
            .0,
        404
    );

    // Metrics for the caller's organization.
    let (status, metrics) = api.get("/api/v1/metrics?range=1h", Some(&token)).await;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(metrics["range"], "1h");
    assert_eq!(
        (
            metrics["agents"].as_u64(),
            metrics["pipelines"].as_u64(),
            metrics["deployments"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    assert!(metrics["requests"].as_u64().unwrap() > 10, "{metrics}");
    for range in ["24h", "7d"] {
        let (status, metrics) = api
            .get(&format!("/api/v1/metrics?range={range}"), Some(&token))
            .await;
        assert_eq!((status, metrics["range"].as_str()), (200, Some(range)));
    }
    let (_, theirs) = api.get("/api/v1/metrics?range=7d", Some(&mallory)).await;
    assert_eq!(
        (theirs["agents"].as_u64(), theirs["deployments"].as_u64()),
        (Some(0), Some(0))
    );

    // Refresh: a new pair, the old access token revoked, the refresh token single-use.
    let (status, refreshed) = api
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let new_token = str_of(&refreshed, "access_token").to_owned();
    assert_ne!(new_token, token);
    assert_ne!(str_of(&refreshed, "refresh_token"), refresh_token);
    assert_eq!(
        api.get("/api/v1/auth/me", Some(&token)).await.0,
        401,
        "the old access token"
    );
    let (status, me) = api.get("/api/v1/auth/me", Some(&new_token)).await;
    assert_eq!((status, &me), (200, &user));
    let again = json!({ "refresh_token": refresh_token });
    assert_eq!(api.post("/api/v1/auth/refresh", None, again).await.0, 401);

    // Logout revokes the token.
    let (status, body) = api
        .call(Method::POST, "/api/v1/auth/logout", Some(&new_token), None)
        .await;
    assert_eq!((status, body), (200, json!({ "message": "logged out" })));
    let (status, body) = api.get("/api/v1/auth/me", Some(&new_token)).await;
    assert_eq!(
        (status, body),
        (401, json!({ "detail": "not authenticated" }))
    );
    assert_eq!(api.get("/api/v1/agents", Some(&new_token)).await.0, 401);
    // Other sessions are untouched.
    assert_eq!(api.get("/api/v1/auth/me", Some(&bob)).await.0, 200);

    server.stop();
}

#[tokio::test]
async fn invalid_bodies_and_parameters_are_422() {
    let server = support::api(FixtureConfig::default());
    let api = Api::new(&server);
    let token = api
        .register_and_login("val@idation.test", "validation")
        .await;

    let raw = api
        .http
        .post(format!("{}/api/v1/auth/register", api.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 422);
    let body: Value = serde_json::from_str(&raw.text().await.unwrap()).unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("invalid request body"),
        "{body}"
    );

    let cases = [
        (
            "/api/v1/auth/register",
            json!({ "email": "no-at-sign", "password": "long-enough" }),
        ),
        (
            "/api/v1/auth/register",
            json!({ "email": "short@pw.test", "password": "1234567" }),
        ),
        (
            "/api/v1/auth/register",
            json!({ "password": "long-enough" }),
        ),
        ("/api/v1/auth/register", json!(["an", "array"])),
        (
            "/api/v1/auth/register",
            json!({ "email": 42, "password": "long-enough" }),
        ),
        ("/api/v1/auth/login", json!({ "email": "val@idation.test" })),
        ("/api/v1/auth/login", json!("a string")),
        ("/api/v1/auth/refresh", json!({})),
        ("/api/v1/agents", json!({ "description": "no name" })),
        ("/api/v1/agents", json!({ "name": "  " })),
        ("/api/v1/pipelines", json!({ "agent_ids": [] })),
        (
            "/api/v1/pipelines",
            json!({ "name": "p", "agent_ids": "not a list" }),
        ),
        (
            "/api/v1/deployments",
            json!({ "environment": "production" }),
        ),
    ];
    for (path, body) in cases {
        let (status, reply) = api.post(path, Some(&token), body.clone()).await;
        assert_eq!(status, 422, "{path} {body}: {reply}");
        assert!(reply["detail"].is_string(), "{reply}");
    }
    for query in ["limit=0", "limit=101", "page=0", "page=-1", "limit=ten"] {
        for resource in ["agents", "pipelines"] {
            let (status, _) = api
                .get(&format!("/api/v1/{resource}?{query}"), Some(&token))
                .await;
            assert_eq!(status, 422, "{resource}?{query}");
        }
    }
    assert_eq!(
        api.get("/api/v1/agents?limit=100", Some(&token)).await.0,
        200
    );
    assert_eq!(
        api.get("/api/v1/metrics?range=30d", Some(&token)).await.0,
        422
    );

    // A PUT that would blank the name is refused and changes nothing.
    let (_, agent) = api
        .post("/api/v1/agents", Some(&token), json!({ "name": "keeper" }))
        .await;
    let path = format!("/api/v1/agents/{}", str_of(&agent, "id"));
    let (status, _) = api
        .call(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({ "name": "" })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(api.get(&path, Some(&token)).await.1["name"], "keeper");
}

#[tokio::test]
async fn routing_auth_and_body_size_errors() {
    let server = support::api(FixtureConfig::default());
    let api = Api::new(&server);

    for path in [
        "/",
        "/nope",
        "/api/v1",
        "/api/v1/",
        "/api/v1/nope",
        "/api/v1/auth/nope",
        "/api/v1/agents/1/extra",
        "/api/v1/agents/",
        "/health/x",
    ] {
        let (status, body) = api.get(path, None).await;
        assert_eq!(
            (status, body),
            (404, json!({ "detail": "not found" })),
            "{path}"
        );
    }
    for (method, path) in [
        (Method::POST, "/health"),
        (Method::GET, "/api/v1/auth/login"),
        (Method::GET, "/api/v1/auth/register"),
        (Method::DELETE, "/api/v1/agents"),
        (Method::POST, "/api/v1/agents/agt_1"),
        (Method::PATCH, "/api/v1/pipelines/pip_1"),
        (Method::GET, "/api/v1/deployments"),
        (Method::POST, "/api/v1/metrics"),
    ] {
        let response = api
            .http
            .request(method.clone(), format!("{}{path}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        assert!(response.headers().contains_key("allow"), "{method} {path}");
    }

    // Everything under /api/v1 but register, login and refresh needs a live bearer token.
    for (method, path) in [
        (Method::GET, "/api/v1/auth/me"),
        (Method::POST, "/api/v1/auth/logout"),
        (Method::GET, "/api/v1/agents"),
        (Method::POST, "/api/v1/agents"),
        (Method::GET, "/api/v1/agents/agt_1"),
        (Method::PUT, "/api/v1/pipelines/pip_1"),
        (Method::DELETE, "/api/v1/pipelines/pip_1"),
        (Method::POST, "/api/v1/deployments"),
        (Method::GET, "/api/v1/metrics"),
    ] {
        let (status, body) = api.call(method.clone(), path, None, None).await;
        assert_eq!(
            (status, body),
            (401, json!({ "detail": "not authenticated" })),
            "{method} {path}"
        );
        let guessed = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            api.call(method.clone(), path, Some(guessed), None).await.0,
            401,
            "{method} {path}"
        );
    }
    let response = api
        .http
        .get(format!("{}/api/v1/auth/me", api.base))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    // Bodies over 1 MiB are refused, whether declared up front or streamed in chunks.
    let addr = server.addr();
    let declared = concat!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: fixture\r\n",
        "content-type: application/json\r\ncontent-length: 2000000\r\n\r\n",
    );
    assert_eq!(raw_exchange(addr, declared.as_bytes().to_vec()).await, 413);
    let mut chunked = concat!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: fixture\r\n",
        "transfer-encoding: chunked\r\n\r\n100001\r\n",
    )
    .as_bytes()
    .to_vec();
    chunked.resize(chunked.len() + (1 << 20) + 1, b' ');
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(raw_exchange(addr, chunked).await, 413);
    // Just under the limit is read, and judged on its content (unknown fields are ignored).
    let padding = "p".repeat(1000 * 1000);
    let body = json!({ "email": "pad@x.test", "password": "long-enough", "padding": padding });
    assert_eq!(api.post("/api/v1/auth/register", None, body).await.0, 201);
}

/// Writes raw bytes on a new connection and returns the status code of the first response.
async fn raw_exchange(addr: std::net::SocketAddr, request: Vec<u8>) -> u16 {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // The server may answer and close before reading everything: a failed write is expected.
        let _ = stream.write_all(&request);
        let mut head = [0; 12];
        stream.read_exact(&mut head).expect("a status line");
        let line = std::str::from_utf8(&head).unwrap();
        line.strip_prefix("HTTP/1.1 ")
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn health_answers_on_one_keep_alive_connection() {
    let server = support::api(FixtureConfig::default());
    let addr = server.addr();
    assert_eq!(
        server.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    let reply = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let request = "GET /health HTTP/1.1\r\nhost: fixture\r\n\r\n";
        stream
            .write_all(format!("{request}{request}").as_bytes())
            .unwrap();
        let mut reply = Vec::new();
        let mut buf = [0; 4096];
        // Both responses arrive on the same connection; stop once the second body is in.
        while reply
            .windows(15)
            .filter(|w| w == br#"{"status":"ok"}"#)
            .count()
            < 2
        {
            let n = stream.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "connection closed early: {}",
                String::from_utf8_lossy(&reply)
            );
            reply.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(reply).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(reply.matches("HTTP/1.1 200 OK").count(), 2, "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{reply}"
    );
}

#[tokio::test]
async fn fixed_latency_is_applied_to_every_route() {
    let latency: Latency = "200ms".parse().unwrap();
    let server = support::api(FixtureConfig {
        latency,
        ..FixtureConfig::default()
    });
    let api = Api::new(&server);
    for path in ["/health", "/api/v1/agents", "/nope"] {
        let started = Instant::now();
        let (status, _) = api.get(path, None).await;
        let took = started.elapsed();
        assert!(matches!(status, 200 | 401 | 404), "{path}: {status}");
        assert!(took >= Duration::from_millis(200), "{path} took {took:?}");
        assert!(took < Duration::from_millis(2200), "{path} took {took:?}");
    }
}

#[tokio::test]
async fn error_rate_fails_exactly_that_fraction() {
    let server = support::api(FixtureConfig {
        error_rate: 0.25,
        ..FixtureConfig::default()
    });
    let api = Api::new(&server);
    let mut failed = Vec::new();
    for n in 1..=100 {
        let (status, body) = api.get("/health", None).await;
        match status {
            200 => {}
            500 => {
                assert_eq!(body, json!({ "detail": "injected error" }));
                failed.push(n);
            }
            other => panic!("request {n}: unexpected {other}"),
        }
    }
    assert_eq!(failed.len(), 25);
    assert_eq!(failed[..3], [4, 8, 12], "evenly spread");
}

#[tokio::test]
async fn concurrency_limit_queues_the_excess() {
    async fn six_at_once(limit: Option<usize>) -> Duration {
        let server = support::api(FixtureConfig {
            latency: "300ms".parse().unwrap(),
            concurrency_limit: limit,
            ..FixtureConfig::default()
        });
        let api = Api::new(&server);
        let started = Instant::now();
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let api = api.clone();
            requests.spawn(async move { api.get("/health", None).await.0 });
        }
        while let Some(status) = requests.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
        started.elapsed()
    }
    // Two at a time: three waves of 300 ms. Unlimited: one wave.
    let limited = six_at_once(Some(2)).await;
    assert!(
        limited >= Duration::from_millis(900),
        "limited took {limited:?}"
    );
    assert!(limited < Duration::from_secs(5), "limited took {limited:?}");
    let unlimited = six_at_once(None).await;
    assert!(
        unlimited < Duration::from_millis(850),
        "unlimited took {unlimited:?}"
    );
}

#[tokio::test]
async fn seeded_users_can_log_in() {
    let server = support::api(FixtureConfig {
        seed_users: 12,
        ..FixtureConfig::default()
    });
    let api = Api::new(&server);
    let mut orgs = Vec::new();
    for i in [1, 11, 12] {
        let (email, password, _) = fixture::seed_user(i);
        let (status, login) = api
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(status, 200, "seed user {i}: {login}");
        orgs.push(login["user"]["organization_id"].clone());
    }
    assert_eq!(orgs[0], orgs[1], "users 1 and 11 share loadtest-org-1");
    assert_ne!(orgs[0], orgs[2]);
    let (email, password, _) = fixture::seed_user(13);
    let (status, _) = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await;
    assert_eq!(status, 401, "only N users are seeded");
    let (status, _) = api
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": fixture::seed_user(1).0, "password": "LoadTest123!" }),
        )
        .await;
    assert_eq!(status, 409);
}

#[test]
fn users_csv_matches_the_seed_formula() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/users.csv");
    let file = std::fs::read_to_string(path).expect("fixtures/users.csv");
    let mut expected = String::from("email,password,organization\n");
    for i in 1..=200 {
        let (email, password, organization) = fixture::seed_user(i);
        expected.push_str(&format!("{email},{password},{organization}\n"));
    }
    assert_eq!(file, expected);
    assert_eq!(
        fixture::seed_user(7),
        (
            "loadtest-0007@kaizen-studio.test".into(),
            "LoadTest123!".into(),
            "loadtest-org-7".into()
        )
    );
}

#[tokio::test]
async fn stop_lets_in_flight_requests_finish() {
    let server = support::api(FixtureConfig {
        latency: "300ms".parse().unwrap(),
        ..FixtureConfig::default()
    });
    let api = Api::new(&server);
    let base = server.base_url();
    let in_flight = tokio::spawn(async move { api.get("/health", None).await.0 });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "stop is bounded"
    );
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the in-flight request finished"
    );
    let addr = base.trim_start_matches("http://").to_owned();
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
}

#[test]
fn invalid_knobs_are_refused_at_spawn() {
    let addr = "127.0.0.1:0".parse().unwrap();
    for cfg in [
        FixtureConfig {
            error_rate: 1.5,
            ..FixtureConfig::default()
        },
        FixtureConfig {
            error_rate: -0.1,
            ..FixtureConfig::default()
        },
        FixtureConfig {
            concurrency_limit: Some(0),
            ..FixtureConfig::default()
        },
    ] {
        let error = fixture::spawn(addr, cfg.clone()).expect_err("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{cfg:?}");
    }
    // A knob string that does not parse names the problem.
    let error = "fast".parse::<Latency>().unwrap_err();
    assert!(error.contains("fast"), "{error}");
}

#[tokio::test]
async fn its_openapi_description_names_every_route_it_serves() {
    let server = support::api(FixtureConfig::default());
    let api = Api::new(&server);
    let (status, spec) = api.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(str_of(&spec, "openapi"), "3.0.3");
    let token = api.register_and_login("spec@acme.test", "acme").await;
    let mut described = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete"].contains(&method.as_str()) {
                continue; // `parameters` of the path
            }
            let m: Method = method.to_ascii_uppercase().parse().unwrap();
            if m == Method::POST && path.ends_with("/logout") {
                // It would end the session the other calls use; it is routed (checked last).
                continue;
            }
            // Every operation is routed: with an example id it is found or missing, never an
            // unknown route or method; its documented statuses include the one it answered.
            let path_ex = path.replace("{id}", "agt_999");
            let (status, _) = api.call(m.clone(), &path_ex, Some(&token), None).await;
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter_map(|k| k.parse().ok())
                .collect();
            assert!(
                documented.contains(&status),
                "{method} {path}: {status} not in {documented:?}"
            );
            described.push(format!("{} {path}", m));
        }
    }
    described.sort();
    // Every route of routes.rs: 19 with logout.
    assert_eq!(described.len(), 18, "{described:?}");
    let (status, _) = api
        .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, 200);
}
