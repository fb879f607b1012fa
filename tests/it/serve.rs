//! The HTTP API on loopback: auth, PII grants, malformed input, limits and a bounded
//! load test, against the handcrafted snapshot of `customer.rs`.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use snapmetrics::api::{Api, ApiConfig, Auth};
use snapmetrics::engine::session::SessionOptions;
use tokio::sync::oneshot;

use crate::customer::{scenario, user_1, user_2};
use crate::fixtures::Fixture;

const READ: &str = "read-token-0123456789";
const PII: &str = "pii-token-0123456789abc";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A running server; dropping it stops the server.
struct Server {
    base: String,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _fixture: Fixture,
}

impl Server {
    async fn start(config: ApiConfig) -> Server {
        let fixture = scenario(true);
        let session = fixture
            .open(SessionOptions {
                include_pii: true,
                ..SessionOptions::default()
            })
            .await
            .expect("session");
        let auth = Auth::configure(Some(READ), Some(PII), false, false, loopback()).expect("auth");
        let api = Arc::new(Api::new(session, auth, config).await.expect("api"));
        let listener = tokio::net::TcpListener::bind(loopback())
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(snapmetrics::api::serve(listener, api, async move {
            let _ = stopped.await;
        }));
        Server {
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            _stop: stop,
            _fixture: fixture,
        }
    }

    /// GET `path` with an optional bearer token: (status, JSON body).
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("response");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
        (status, body)
    }

    /// Asserts a JSON error with `status` and `error`.
    async fn expect_error(&self, path: &str, token: Option<&str>, status: u16, error: &str) {
        let (got, body) = self.get(path, token).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{path}: {body}"
        );
        assert_eq!(body["code"], json!(status), "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

fn strip_pii(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        for key in ["email", "first_name", "last_name", "date_of_birth"] {
            object.remove(key);
        }
    }
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_and_pii_grants() {
    let server = Server::start(ApiConfig::default()).await;
    let (status, body) = server.get("/customers/1", Some(READ)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, user_1());
    let (status, body) = server.get("/customers/2", Some(READ)).await;
    assert_eq!((status, body), (200, user_2()));

    // A PII token sees PII only when it asks; a read token never does.
    let (_, body) = server.get("/customers/1", Some(PII)).await;
    assert_eq!(body, user_1());
    let (_, body) = server
        .get("/customers/1?include_pii=false", Some(PII))
        .await;
    assert_eq!(body, user_1());
    let (status, body) = server.get("/customers/1?include_pii=true", Some(PII)).await;
    assert_eq!(status, 200);
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["last_name"], "Lovelace");
    assert_eq!(body["date_of_birth"], "1990-12-10");
    assert_eq!(strip_pii(body), user_1());
    server
        .expect_error(
            "/customers/1?include_pii=true",
            Some(READ),
            403,
            "pii_not_granted",
        )
        .await;
    // 403 comes before the lookup: no probing for ids with a read token.
    server
        .expect_error(
            "/customers/42?include_pii=true",
            Some(READ),
            403,
            "pii_not_granted",
        )
        .await;
    for path in [
        "/customers/1",
        "/customers/2",
        "/customers/1?include_pii=false",
    ] {
        let response = server
            .client
            .get(format!("{}{path}", server.base))
            .bearer_auth(READ)
            .send()
            .await
            .expect("response");
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        let text = response.text().await.expect("body");
        for secret in [
            "ada@example.com",
            "alan@example.com",
            "Lovelace",
            "Turing",
            "1990-12-10",
            "argon2",
        ] {
            assert!(!text.contains(secret), "{path}: {text}");
        }
    }

    server
        .expect_error("/customers/42", Some(READ), 404, "customer_not_found")
        .await;
    // Created after as_of: excluded, so not found rather than half a record.
    server
        .expect_error("/customers/3", Some(READ), 404, "customer_not_found")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_are_401() {
    let server = Server::start(ApiConfig::default()).await;
    for path in [
        "/customers/1",
        "/metrics/mau",
        "/snapshots",
        "/customers/abc",
    ] {
        server.expect_error(path, None, 401, "unauthorized").await;
        server
            .expect_error(path, Some("not-a-valid-token-at-all"), 401, "unauthorized")
            .await;
        server
            .expect_error(path, Some(""), 401, "unauthorized")
            .await;
    }
    let response = server
        .client
        .get(format!("{}/customers/1", server.base))
        .header("authorization", format!("Basic {READ}"))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    // Health and the OpenAPI document carry no data and need no token.
    let (status, body) = server.get("/health", None).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = server.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["openapi"], "3.1.0");
    for path in [
        "/customers/{id}",
        "/metrics/{name}",
        "/snapshots",
        "/health",
    ] {
        assert!(body["paths"][path].is_object(), "{path}");
    }
    // The schemas are the answers' own: a record with PII, a metric answer and an
    // error have exactly the properties their schemas list.
    let schemas = &body["components"]["schemas"];
    let (_, customer) = server.get("/customers/1?include_pii=true", Some(PII)).await;
    assert_eq!(keys(&customer), properties(schemas, "Customer"));
    for group in ["activity", "transactions"] {
        let name = format!("{}{}", group[..1].to_uppercase(), &group[1..]);
        assert_eq!(
            keys(&customer[group]),
            properties(schemas, &name),
            "{group}"
        );
    }
    let (_, metric) = server.get("/metrics/activation", Some(READ)).await;
    assert_eq!(keys(&metric), properties(schemas, "MetricTable"));
    let (_, error) = server.get("/customers/abc", Some(READ)).await;
    assert_eq!(keys(&error), properties(schemas, "Error"));
}

fn keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The property names of schema `name`, its flattened parts (`allOf`) included.
fn properties(schemas: &Value, name: &str) -> Vec<String> {
    fn collect(schemas: &Value, schema: &Value, into: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap_or_default();
            return collect(schemas, &schemas[name], into);
        }
        if let Some(props) = schema["properties"].as_object() {
            into.extend(props.keys().cloned());
        }
        for part in ["allOf", "oneOf", "anyOf"] {
            for item in schema[part].as_array().into_iter().flatten() {
                collect(schemas, item, into);
            }
        }
    }
    let mut names = Vec::new();
    collect(schemas, &schemas[name], &mut names);
    names.sort();
    names.dedup();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_400_never_500() {
    let server = Server::start(ApiConfig::default()).await;
    let t = Some(READ);
    for path in [
        "/customers/abc",
        "/customers/-1",
        "/customers/+1",
        "/customers/1.5",
        "/customers/1e3",
        "/customers/%20",
        "/customers/99999999999999999999",
        "/customers/9223372036854775808",
        "/customers/1%27%20OR%201=1",
    ] {
        server.expect_error(path, t, 400, "malformed_id").await;
    }
    // Not UTF-8 once decoded.
    server
        .expect_error("/customers/%FF", t, 400, "malformed_path")
        .await;
    for path in [
        "/customers/1?include_pii=yes",
        "/customers/1?include_pii=1",
        "/customers/1?include_pii=true&include_pii=true",
        "/customers/1?includepii=true",
        "/customers/1?%FF=1",
        "/metrics/mau?from=2026-13-01",
        "/metrics/mau?from=yesterday",
        "/metrics/mau?to=2026-02-30",
        "/metrics/mau?from=2026-03-01&to=2026-02-01",
        "/metrics/mau?active_only=maybe",
        "/metrics/mau?bank=Monzo",
        "/metrics/mau?from=2026-01-01&from=2026-02-01",
        "/metrics/mau?from=%2B10000-01-01",
    ] {
        server.expect_error(path, t, 400, "invalid_query").await;
    }
    // Dates at the ends of the calendar answer (they were a 500: a Timestamp(ns) cast).
    for path in [
        "/metrics/mau?from=9999-12-31",
        "/metrics/mau?from=0001-01-01&to=9999-12-31",
        "/metrics/cohort_retention?from=0001-01-01",
    ] {
        let (status, body) = server.get(path, t).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    server
        .expect_error("/metrics/nope", t, 404, "unknown_metric")
        .await;
    server
        .expect_error("/metrics/..%2F..%2Fetc", t, 404, "unknown_metric")
        .await;
    server.expect_error("/sql", t, 404, "not_found").await;
    server.expect_error("/customers", t, 404, "not_found").await;
    server
        .expect_error("/customers/1/2", t, 404, "not_found")
        .await;
    let response = server
        .client
        .post(format!("{}/customers/1", server.base))
        .bearer_auth(READ)
        .body("{}")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = serde_json::from_str(&response.text().await.expect("body")).expect("json");
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_snapshots() {
    let server = Server::start(ApiConfig::default()).await;
    let t = Some(READ);
    // new_users per month, first signup month to as_of's: 2026-01 (user 1), 2026-02 (user 2).
    let (status, body) = server.get("/metrics/new_users", t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metric"], "new_users");
    assert_eq!(
        body["columns"],
        json!(["month", "new_users", "is_complete"])
    );
    assert_eq!(body["snapshot"], crate::customer::SNAPSHOT);
    let counts = |body: &Value| -> Vec<(String, i64)> {
        body["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                (
                    r["month"].as_str().expect("month").to_string(),
                    r["new_users"].as_i64().expect("n"),
                )
            })
            .collect()
    };
    let month = |m: &str, n| (m.to_string(), n);
    assert_eq!(
        counts(&body),
        [
            month("2026-01", 1),
            month("2026-02", 1),
            month("2026-03", 0)
        ]
    );
    // A filter set gets a session of its own: user 2 is inactive.
    let (status, body) = server.get("/metrics/new_users?active_only=true", t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["filters"]["active_only"], true);
    assert_eq!(
        counts(&body),
        [
            month("2026-01", 1),
            month("2026-02", 0),
            month("2026-03", 0)
        ]
    );
    let (status, body) = server
        .get(
            "/metrics/new_users?from=2026-02-01&to=&active_only=false",
            t,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(counts(&body), [month("2026-02", 1), month("2026-03", 0)]);
    let (status, body) = server.get("/metrics/cohort_retention", t).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["rows"].as_array().expect("rows").is_empty());

    let (status, body) = server.get("/snapshots", t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["serving"], crate::customer::SNAPSHOT);
    assert_eq!(
        body["snapshots"],
        json!([{
            "id": crate::customer::SNAPSHOT,
            "complete": true,
            "as_of": "2026-03-31T23:59:59.999999Z",
            "as_of_source": "snapshot id"
        }])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_503() {
    let server = Server::start(ApiConfig {
        request_timeout: Duration::from_millis(1),
        ..ApiConfig::default()
    })
    .await;
    // Opening a session for a new filter set takes far longer than 1 ms.
    server
        .expect_error(
            "/metrics/activation?active_only=true",
            Some(READ),
            503,
            "timeout",
        )
        .await;
}

/// 2,000 requests, 32 at a time, through only 4 permits: every one must succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_load_on_loopback() {
    let server = Arc::new(
        Server::start(ApiConfig {
            max_concurrent_requests: 4,
            ..ApiConfig::default()
        })
        .await,
    );
    let paths = [
        "/customers/1",
        "/customers/2",
        "/customers/1?include_pii=true",
        "/metrics/mau",
        "/health",
        "/snapshots",
    ];
    let started = Instant::now();
    let statuses: Vec<(usize, u16)> = futures::stream::iter(0..2000usize)
        .map(|n| {
            let server = server.clone();
            async move {
                let path = paths[n % paths.len()];
                let token = if n % paths.len() == 2 { PII } else { READ };
                let response = server
                    .client
                    .get(format!("{}{path}", server.base))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("response");
                let status = response.status().as_u16();
                response.bytes().await.expect("body");
                (n, status)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let failed: Vec<_> = statuses.iter().filter(|(_, s)| *s != 200).collect();
    assert_eq!(statuses.len(), 2000);
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    eprintln!("2000 requests at concurrency 32 in {:?}", started.elapsed());
}

#[test]
fn start_up_refuses_unsafe_configurations() {
    let any = SocketAddr::from(([0, 0, 0, 0], 8080));
    let refused = [
        Auth::configure(None, None, false, false, loopback()),
        Auth::configure(Some(" , "), None, false, false, loopback()),
        Auth::configure(None, None, true, false, any),
        Auth::configure(Some(READ), None, true, false, loopback()),
        Auth::configure(Some("short"), None, false, false, loopback()),
        Auth::configure(Some("has a space in it ok"), None, false, false, loopback()),
    ];
    for result in refused {
        assert!(
            matches!(result, Err(snapmetrics::Error::InvalidArgument { .. })),
            "{result:?}"
        );
    }
    assert!(
        !Auth::configure(Some(READ), None, false, false, any)
            .expect("tokens")
            .grants_pii()
    );
    assert!(
        Auth::configure(None, Some(PII), false, false, any)
            .expect("pii")
            .grants_pii()
    );
    assert!(
        !Auth::configure(None, None, true, false, loopback())
            .expect("open")
            .grants_pii()
    );

    // The binary refuses before it opens any snapshot: exit 2, one line.
    for args in [
        vec!["serve", "--store", "/no/such/store"],
        vec![
            "serve",
            "--no-auth",
            "--bind",
            "0.0.0.0:0",
            "--store",
            "/no/such/store",
        ],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_snapmetrics"))
            .args(&args)
            .env_remove("SNAPMETRICS_API_TOKENS")
            .env_remove("SNAPMETRICS_API_PII_TOKENS")
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("SNAPMETRICS_API_TOKENS") || stderr.contains("loopback"),
            "{stderr}"
        );
    }
    // Limits of zero are refused by the flags themselves.
    for flag in [
        "--request-timeout",
        "--max-concurrent-requests",
        "--max-concurrent-metrics",
        "--max-connections",
        "--idle-timeout",
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_snapmetrics"))
            .args(["serve", "--no-auth", flag, "0"])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.lines().count() == 1,
            "{flag}: {stderr}"
        );
    }
    for config in [
        ApiConfig {
            max_concurrent_metrics: 0,
            ..ApiConfig::default()
        },
        ApiConfig {
            max_connections: 0,
            ..ApiConfig::default()
        },
    ] {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let refused = runtime.block_on(async {
            let fixture = scenario(true);
            let session = fixture.session().await;
            let auth = Auth::configure(Some(READ), None, false, false, loopback()).expect("auth");
            Api::new(session, auth, config).await
        });
        assert!(
            matches!(refused, Err(snapmetrics::Error::InvalidArgument { .. })),
            "{refused:?}"
        );
    }
}

/// The soft limit on open files, from /proc/self/limits.
fn fd_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024)
}

/// Waits until `done` holds, for at most `limit`.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start(ApiConfig {
        idle_timeout: Duration::from_millis(500),
        ..ApiConfig::default()
    })
    .await;
    let address = server.base.trim_start_matches("http://").to_string();

    // Half a request head, then nothing: closed, not held forever.
    let mut slow = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read(&mut buffer)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "a slow-header connection stayed open"
    );

    // A keep-alive connection that goes idle after its answer: closed too.
    let mut idle = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), idle.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "an idle keep-alive connection stayed open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_capped() {
    // A server process of its own: its descriptors are its connections, whatever the
    // tests running beside this one open.
    let server = ServeProcess::start(300, &["--max-connections", "50"]);
    let address = server.base.trim_start_matches("http://").to_string();
    let before = server.open_fds();
    let mut held = Vec::new();
    for _ in 0..80 {
        held.push(std::net::TcpStream::connect(&address).expect("connect"));
    }
    // The server accepts 50 and leaves the rest in its backlog.
    let accepted = eventually(Duration::from_secs(10), || server.open_fds() >= before + 50).await;
    assert!(
        accepted,
        "{} fds, expected {}",
        server.open_fds(),
        before + 50
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.open_fds(),
        before + 50,
        "the server went past its cap"
    );
    // Closing some frees slots for the waiting ones.
    held.truncate(40);
    let served = eventually(Duration::from_secs(10), || server.open_fds() == before + 40).await;
    assert!(served, "{} fds after closing 40", server.open_fds());
}

/// Many idle connections (2,000 where the file limit allows) do not stop `/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_idle_connections_are_held() {
    let server = Server::start(ApiConfig::default()).await;
    let address = server.base.trim_start_matches("http://").to_string();
    // Each idle connection costs two descriptors here (client and server side).
    let count = 2000.min(fd_limit().saturating_sub(256) / 2);
    if count < 2000 {
        eprintln!("WARNING: the open-file limit allows only {count} idle connections, not 2,000");
    }
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        held.push(
            tokio::net::TcpStream::connect(&address)
                .await
                .expect("connect"),
        );
    }
    let started = Instant::now();
    let (status, body) = server.get("/health", None).await;
    eprintln!(
        "/health with {count} idle connections held: {:?}",
        started.elapsed()
    );
    assert_eq!((status, body), (200, json!({ "status": "ok" })));
    drop(held);
}

/// A `snapmetrics serve` process on a generated snapshot; killed when dropped.
struct ServeProcess {
    child: std::process::Child,
    base: String,
    _store: tempfile::TempDir,
}

impl ServeProcess {
    fn start(users: u64, extra: &[&str]) -> ServeProcess {
        use std::io::BufRead;
        let store = tempfile::tempdir().expect("store");
        snapmetrics::generate::generate(
            &store.path().join("2026-06-30"),
            &snapmetrics::generate::GenerateOptions::new(users, 11),
            &|_| {},
        )
        .expect("generate");
        let mut child = crate::fixtures::command(&[
            "serve",
            "--store",
            store.path().to_str().expect("utf-8"),
            "--no-auth",
            "--bind",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut line = String::new();
        std::io::BufReader::new(stderr)
            .read_line(&mut line)
            .expect("first line");
        let address = line
            .split("on http://")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("no address in: {line}"));
        ServeProcess {
            base: format!("http://{address}"),
            child,
            _store: store,
        }
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    /// (resident, peak resident) memory of the server, in MB.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map_or(0, |kb| kb / 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The p-th percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// 20,000 requests at concurrency 64: 85% customer lookups, 15% metrics over 50 filter
/// sets, on a server process of its own. Nothing may fail but the 503 a request gets
/// when it cannot be answered within its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_many_filter_sets() {
    const USERS: u64 = 1_000;
    let server = Arc::new(ServeProcess::start(USERS, &[]));
    let client = reqwest::Client::new();
    let metrics = ["cohort_retention", "activation", "mau"];
    let filter_sets: Vec<String> = (0..50)
        .map(|k| {
            let from = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")
                + chrono::Days::new(k / 2);
            format!("from={from}&active_only={}", k % 2 == 1)
        })
        .collect();
    let path = |n: usize| -> (&'static str, String) {
        let mut rng = rand_pcg::Pcg64::new(n as u128, 0x0a02_bdbf_7bb3_c0a7);
        use rand::Rng;
        match n % 20 {
            0..=2 => {
                let metric = metrics[rng.random_range(0..metrics.len())];
                let filters = &filter_sets[rng.random_range(0..filter_sets.len())];
                ("metrics", format!("/metrics/{metric}?{filters}"))
            }
            3 => ("health", "/health".to_string()),
            _ => (
                "customers",
                format!("/customers/{}", rng.random_range(1..=USERS)),
            ),
        }
    };
    let (rss_before, _) = server.memory();
    let started = Instant::now();
    let answers: Vec<(&str, Result<u16, String>, Duration)> = futures::stream::iter(0..20_000usize)
        .map(|n| {
            let (server, client) = (server.clone(), client.clone());
            let (endpoint, path) = path(n);
            async move {
                let sent = Instant::now();
                let status = async {
                    let response = client.get(format!("{}{path}", server.base)).send().await?;
                    let status = response.status().as_u16();
                    response.bytes().await?;
                    Ok::<u16, reqwest::Error>(status)
                }
                .await
                .map_err(|e| format!("{path}: {e}"));
                (endpoint, status, sent.elapsed())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let (rss_after, rss_peak) = server.memory();

    let failures: Vec<String> = answers
        .iter()
        .filter_map(|(_, status, _)| match status {
            Ok(200 | 503) => None,
            Ok(other) => Some(format!("status {other}")),
            Err(e) => Some(e.clone()),
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 20000 failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let mut report = format!(
        "soak: 20000 requests at concurrency 64 in {:.1} s; server RSS {rss_before} MB before, {rss_after} MB after, peak {rss_peak} MB",
        elapsed.as_secs_f64()
    );
    for endpoint in ["customers", "metrics", "health"] {
        let mut times: Vec<Duration> = answers
            .iter()
            .filter(|(e, _, _)| *e == endpoint)
            .map(|(_, _, t)| *t)
            .collect();
        times.sort();
        let unavailable = answers
            .iter()
            .filter(|(e, s, _)| *e == endpoint && *s == Ok(503))
            .count();
        report.push_str(&format!(
            "\n  {endpoint}: {} requests, {unavailable} × 503, p50 {:.1} ms, p99 {:.1} ms",
            times.len(),
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
        ));
    }
    eprintln!("{report}");
    // Every cheap lookup must have been answered, whatever the metrics did.
    assert!(
        answers
            .iter()
            .all(|(e, s, _)| *e == "metrics" || *s == Ok(200)),
        "a lookup got 503 behind metric work\n{report}"
    );
}
