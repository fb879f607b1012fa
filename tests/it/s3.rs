//! S3 stores against a real S3-protocol server (s3s-fs) started on loopback by the test,
//! behind a fault-injecting front (error statuses, reset connections, bodies that stall)
//! that sits on the wire between the client and the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use snapmetrics::engine::session::{Session, SessionOptions};
use snapmetrics::generate::{GenerateOptions, generate};
use snapmetrics::output::publish::Destination;
use snapmetrics::source::snapshot::{self, Snapshot};
use snapmetrics::source::store::{S3Options, Store};
use tokio::net::TcpListener;

use crate::fixtures::copy_dir;

const KEY: &str = "snapmetrics-test";
const SECRET: &str = "snapmetrics-secret";
const ID: &str = "2026-06-30";

/// An s3s-fs server on 127.0.0.1:0 over a temp folder; a bucket is a folder in it.
pub(crate) struct Server {
    root: tempfile::TempDir,
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    faults: Arc<Mutex<Vec<Fault>>>,
}

/// How a request goes wrong on the wire.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// An S3 error answer with this status (500, 503).
    Status(u16),
    /// The connection is closed without an answer.
    Reset,
    /// The answer's headers and half its body are sent, then nothing more.
    Stall,
}

/// Requests with `method` whose path contains `path` fail `times` times.
#[derive(Debug, Clone)]
struct Fault {
    method: &'static str,
    path: String,
    failure: Failure,
    times: usize,
}

impl Fault {
    fn new(method: &'static str, path: &str, failure: Failure, times: usize) -> Fault {
        Fault {
            method,
            path: path.to_string(),
            failure,
            times,
        }
    }
}

type Answer = Result<hyper::Response<s3s::Body>, s3s::HttpError>;

/// Whether `req` is to fail, and how; counts the failure against its fault.
fn failure_for(
    faults: &Mutex<Vec<Fault>>,
    req: &hyper::Request<hyper::body::Incoming>,
) -> Option<Failure> {
    let mut faults = faults.lock().unwrap_or_else(|p| p.into_inner());
    let fault = faults.iter_mut().find(|f| {
        f.times > 0 && req.method().as_str() == f.method && req.uri().path().contains(&f.path)
    })?;
    fault.times -= 1;
    Some(fault.failure)
}

async fn inject(failure: Failure, answer: impl Future<Output = Answer>) -> Answer {
    match failure {
        Failure::Status(code) => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>injected {code}</Message></Error>"
            );
            Ok(hyper::Response::builder()
                .status(code)
                .header("content-type", "application/xml")
                .body(s3s::Body::from(body))
                .expect("response"))
        }
        Failure::Reset => Err(s3s::HttpError::new(Box::new(std::io::Error::other(
            "injected reset",
        )))),
        Failure::Stall => {
            let (parts, mut body) = answer.await?.into_parts();
            let bytes = body
                .store_all_limited(usize::MAX)
                .await
                .map_err(s3s::HttpError::new)?;
            let half = bytes.slice(..bytes.len() / 2);
            let frames = futures::stream::once(async move {
                Ok::<_, std::io::Error>(http_body::Frame::data(half))
            })
            .chain(futures::stream::pending());
            Ok(hyper::Response::from_parts(
                parts,
                s3s::Body::http_body(http_body_util::StreamBody::new(frames)),
            ))
        }
    }
}

impl Server {
    pub(crate) async fn start() -> Server {
        let root = tempfile::tempdir().expect("root");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(KEY, SECRET));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(Mutex::new(Vec::new()));
        let (counter, injected) = (requests.clone(), faults.clone());
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                let (counter, injected) = (counter.clone(), injected.clone());
                let counted = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let failure = failure_for(&injected, &req);
                        let answer = Service::call(&service, req);
                        async move {
                            match failure {
                                Some(failure) => inject(failure, answer).await,
                                None => answer.await,
                            }
                        }
                    },
                );
                let conn = http
                    .serve_connection(TokioIo::new(socket), counted)
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Server {
            root,
            addr,
            requests,
            faults,
        }
    }

    /// Makes the matching requests fail from now on.
    fn fail(&self, fault: Fault) {
        self.faults.lock().expect("faults").push(fault);
    }

    fn heal(&self) {
        self.faults.lock().expect("faults").clear();
    }

    pub(crate) fn bucket(&self, name: &str) -> PathBuf {
        let path = self.root.path().join(name);
        std::fs::create_dir_all(&path).expect("bucket");
        path
    }

    fn options(&self) -> S3Options {
        S3Options {
            endpoint: Some(format!("http://{}", self.addr)),
            region: Some("us-east-1".to_string()),
            access_key_id: Some(KEY.to_string()),
            secret_access_key: Some(SECRET.to_string()),
            allow_http: Some(true),
            from_env: false,
            max_retries: 1,
            timeout: Duration::from_secs(5),
            ..S3Options::default()
        }
    }

    /// The `AWS_*` settings a process reaches this server with.
    pub(crate) fn env(&self) -> [(&'static str, String); 5] {
        [
            ("AWS_ENDPOINT_URL", format!("http://{}", self.addr)),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
        ]
    }

    fn store(&self, location: &str) -> Store {
        Store::open_with(location, &self.options()).expect("store")
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A generated snapshot in a local store, also uploaded to `bucket/exports/`.
fn snapshot_in_both(server: &Server) -> tempfile::TempDir {
    let local = tempfile::tempdir().expect("local");
    generate(
        &local.path().join(ID),
        &GenerateOptions::new(300, 5),
        &|_| {},
    )
    .expect("generate");
    copy_dir(
        &local.path().join(ID),
        &server.bucket("exports").join("exports").join(ID),
    );
    local
}

async fn open(store: &Store) -> Session {
    let snapshot = Snapshot::open(store, "latest", false)
        .await
        .expect("latest");
    Session::open(store, snapshot, SessionOptions::default())
        .await
        .expect("session")
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    // s3s-fs keeps the folder of a deleted object; only objects (files) count.
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_resolves_latest_in_a_bucket() {
    let server = Server::start().await;
    let _local = snapshot_in_both(&server);
    // A newer snapshot still being written: never `latest`.
    let newer = server.bucket("exports").join("exports/2026-07-01/users");
    std::fs::create_dir_all(&newer).expect("dir");
    std::fs::write(newer.join("part-0.parquet"), b"partial").expect("write");
    let store = server.store("s3://exports/exports");
    let listed = snapshot::list(&store).await.expect("list");
    let ids: Vec<(&str, bool)> = listed.iter().map(|e| (e.id.as_str(), e.complete)).collect();
    assert_eq!(ids, [(ID, true), ("2026-07-01", false)]);
    let latest = Snapshot::open(&store, "latest", false)
        .await
        .expect("latest");
    assert_eq!(latest.id, ID);
    assert_eq!(latest.tables.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_from_s3_equals_report_from_disk() {
    let server = Server::start().await;
    let local = snapshot_in_both(&server);
    let out = tempfile::tempdir().expect("out");

    let local_session =
        open(&Store::open(&local.path().display().to_string()).expect("local")).await;
    snapmetrics::output::report::write(
        &local_session,
        &Default::default(),
        &out.path().join("local"),
        &[],
    )
    .await
    .expect("local report");

    let before = server.requests();
    let s3_session = open(&server.store("s3://exports/exports")).await;
    snapmetrics::output::report::write(
        &s3_session,
        &Default::default(),
        &out.path().join("s3"),
        &[],
    )
    .await
    .expect("s3 report");
    let requests = server.requests() - before;
    eprintln!("a report over S3 made {requests} requests");

    let (a, b) = (
        files(&out.path().join("local")),
        files(&out.path().join("s3")),
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        if name == "manifest.json" {
            let strip = |bytes: &[u8]| {
                let mut v: serde_json::Value = serde_json::from_slice(bytes).expect("json");
                for input in v["inputs"].as_array_mut().expect("inputs") {
                    input
                        .as_object_mut()
                        .expect("object")
                        .retain(|k, _| k != "sha256" && k != "etag");
                }
                v
            };
            assert_eq!(
                strip(x),
                strip(y),
                "manifest differs beyond input checksums"
            );
        } else {
            assert!(x == y, "{name} differs between S3 and local");
        }
    }
    assert_eq!(a.len(), b.len());
    // A regression guard, not a budget: 359 when written (docs/S3.md has the breakdown).
    assert!(requests < 500, "{requests} requests for one report");
}

/// What `prefix` (a folder of the server) publishes: its pointer and the files of the run
/// it names; also checks that nothing but the pointer and runs lies at the top.
fn published(server: &Server, prefix: &str) -> (serde_json::Value, Vec<(String, Vec<u8>)>) {
    let dir = server.root.path().join(prefix);
    let top: Vec<String> = files(&dir).into_iter().map(|(name, _)| name).collect();
    assert_eq!(top, ["current.json"], "objects at the top of {prefix}");
    let pointer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("current.json")).expect("pointer"))
            .expect("pointer json");
    let report = pointer["report"].as_str().expect("report").to_string();
    (pointer, files(&dir.join(report)))
}

/// The runs below `prefix` that hold objects.
fn runs(server: &Server, prefix: &str) -> Vec<String> {
    let dir = server.root.path().join(prefix).join("runs");
    let mut runs: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").path())
                .filter(|p| !files(p).is_empty())
                .map(|p| p.file_name().expect("name").to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    runs
}

const REPORT_FILES: [&str; 12] = [
    "activation.csv",
    "active_users_daily.csv",
    "cohort_retention.csv",
    "cohort_retention_monthly.csv",
    "cohort_retention_unbounded.csv",
    "data_quality.csv",
    "lifecycle_weekly.csv",
    "manifest.json",
    "onboarding_dropoff.csv",
    "retention_curve.csv",
    "stickiness_monthly.csv",
    "vanity_monthly.csv",
];

fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
    files.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_to_s3_switches_a_pointer_last() {
    let server = Server::start().await;
    let local = snapshot_in_both(&server);
    server.bucket("reports");
    let session = open(&Store::open(&local.path().display().to_string()).expect("local")).await;
    let target = server.store("s3://reports/daily");
    snapmetrics::output::report::write(
        &session,
        &Default::default(),
        Destination::Prefix(target.clone()),
        &[],
    )
    .await
    .expect("report to s3");
    let (pointer, written) = published(&server, "reports/daily");
    assert_eq!(names(&written), REPORT_FILES);
    let manifest = &written
        .iter()
        .find(|(n, _)| n == "manifest.json")
        .expect("manifest")
        .1;
    assert_eq!(
        pointer["manifest_sha256"],
        snapmetrics::output::manifest::sha256_hex(manifest)
    );
    let first = runs(&server, "reports/daily");
    assert_eq!(first.len(), 1);

    // The same report again: the same run, rewritten with the same bytes.
    snapmetrics::output::report::write(
        &session,
        &Default::default(),
        Destination::Prefix(target.clone()),
        &[],
    )
    .await
    .expect("again");
    assert_eq!(
        published(&server, "reports/daily"),
        (pointer.clone(), written.clone())
    );
    assert_eq!(runs(&server, "reports/daily"), first);

    // Two other reports: the one before the current stays for readers still on it; the
    // one before that goes.
    let since = |from: &str| snapmetrics::engine::session::Filters {
        from: Some(from.parse().expect("date")),
        ..Default::default()
    };
    for from in ["2026-03-01", "2026-04-01"] {
        snapmetrics::output::report::write(
            &session,
            &since(from),
            Destination::Prefix(target.clone()),
            &[],
        )
        .await
        .expect("filtered");
    }
    let kept = runs(&server, "reports/daily");
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(!kept.contains(&first[0]), "{kept:?}");

    // A run that fails mid-way (a file vanished after listing) leaves that report intact.
    let before = published(&server, "reports/daily");
    let session = open(&server.store("s3://exports/exports")).await;
    std::fs::remove_file(
        server
            .root
            .path()
            .join("exports/exports")
            .join(ID)
            .join("users/part-00000.parquet"),
    )
    .expect("rm");
    let err = snapmetrics::output::report::write(
        &session,
        &Default::default(),
        Destination::Prefix(target),
        &[],
    )
    .await
    .expect_err("vanished file");
    assert!(
        err.to_string().contains("users/part-00000.parquet"),
        "{err}"
    );
    assert!(
        published(&server, "reports/daily") == before,
        "previous report changed"
    );
    assert_eq!(runs(&server, "reports/daily"), kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_on_s3_is_verified_where_its_pointer_says() {
    let server = Server::start().await;
    let _local = snapshot_in_both(&server);
    server.bucket("reports");
    let store = server.store("s3://exports/exports");
    snapmetrics::output::report::write(
        &open(&store).await,
        &Default::default(),
        Destination::Prefix(server.store("s3://reports/daily")),
        &[],
    )
    .await
    .expect("report");
    let verify = || async {
        let report = snapmetrics::audit::ReportFiles::open("s3://reports/daily", &server.options())
            .await
            .expect("report files");
        let options = snapmetrics::audit::verify::VerifyOptions {
            recompute: true,
            memory_limit: None,
        };
        snapmetrics::audit::verify::verify(&report, &store, &options)
            .await
            .expect("verify")
    };
    let verdict = verify().await;
    assert!(verdict.holds(), "{:?}", verdict.findings);

    let (pointer, _) = published(&server, "reports/daily");
    let run = server
        .root
        .path()
        .join("reports/daily")
        .join(pointer["report"].as_str().expect("report"));
    let csv = run.join("activation.csv");
    let mut bytes = std::fs::read(&csv).expect("csv");
    bytes.extend_from_slice(b"x");
    std::fs::write(&csv, bytes).expect("tamper");
    let verdict = verify().await;
    assert!(!verdict.holds(), "a changed file verified");
    assert!(
        verdict
            .findings
            .iter()
            .any(|f| !f.holds && f.message.contains("activation.csv")),
        "{:?}",
        verdict.findings
    );
}

/// Options that fail fast: 3 retries, 2 s per request and for its retries together.
fn impatient(server: &Server) -> S3Options {
    S3Options {
        max_retries: 3,
        timeout: Duration::from_secs(2),
        ..server.options()
    }
}

/// The report of the snapshot on the server, written to `s3://reports/daily`.
async fn report_s3_to_s3(
    options: &S3Options,
    filters: &snapmetrics::engine::session::Filters,
) -> snapmetrics::error::Result<()> {
    let store = Store::open_with("s3://exports/exports", options)?;
    let snapshot = Snapshot::open(&store, "latest", false).await?;
    let session = Session::open(&store, snapshot, SessionOptions::default()).await?;
    let target = Store::open_with("s3://reports/daily", options)?;
    snapmetrics::output::report::write(&session, filters, Destination::Prefix(target), &[])
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_s3_faults_are_retried() {
    let server = Server::start().await;
    let _local = snapshot_in_both(&server);
    server.bucket("reports");
    report_s3_to_s3(&impatient(&server), &Default::default())
        .await
        .expect("clean run");
    let clean = published(&server, "reports/daily");

    let faults = [
        Fault::new("GET", "users/part-00000.parquet", Failure::Status(503), 2),
        Fault::new("GET", "transactions", Failure::Reset, 1),
        Fault::new("GET", "user_events", Failure::Stall, 1),
        Fault::new("HEAD", "_SUCCESS", Failure::Status(500), 1),
        Fault::new("PUT", "reports/daily/runs", Failure::Status(503), 1),
        Fault::new("PUT", "current.json", Failure::Reset, 1),
    ];
    for fault in &faults {
        server.fail(fault.clone());
    }
    std::fs::remove_dir_all(server.root.path().join("reports/daily")).expect("rm");
    report_s3_to_s3(&impatient(&server), &Default::default())
        .await
        .expect("a report through transient faults");
    let left: Vec<Fault> = server.faults.lock().expect("faults").clone();
    for fault in &left {
        assert_eq!(fault.times, 0, "fault never met: {fault:?}");
    }
    assert!(
        published(&server, "reports/daily") == clean,
        "faults changed the report"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lasting_s3_faults_fail_in_bounded_time_naming_the_object() {
    let server = Server::start().await;
    let _local = snapshot_in_both(&server);
    server.bucket("reports");
    let options = impatient(&server);
    report_s3_to_s3(&options, &Default::default())
        .await
        .expect("previous report");
    let previous = published(&server, "reports/daily");
    let later = snapmetrics::engine::session::Filters {
        from: Some("2026-03-01".parse().expect("date")),
        ..Default::default()
    };
    let cases = [
        (
            "GET",
            "users/part-00000.parquet",
            "users/part-00000.parquet",
        ),
        ("PUT", "reports/daily/runs", "reports/daily/runs/"),
        (
            "PUT",
            "reports/daily/current.json",
            "reports/daily/current.json",
        ),
    ];
    for (method, path, named) in cases {
        for failure in [Failure::Status(500), Failure::Reset, Failure::Stall] {
            if method == "PUT" && matches!(failure, Failure::Stall) {
                continue; // a PUT's answer has no body to stall
            }
            server.heal();
            server.fail(Fault::new(method, path, failure, usize::MAX));
            let started = Instant::now();
            let err =
                tokio::time::timeout(Duration::from_secs(120), report_s3_to_s3(&options, &later))
                    .await
                    .expect("the retries are bounded")
                    .expect_err("a lasting fault")
                    .to_string();
            eprintln!(
                "{method} {path} {failure:?}: failed after {:.1} s: {err}",
                started.elapsed().as_secs_f64()
            );
            assert!(!err.contains('\n'), "not one line: {err}");
            assert!(err.contains(named), "{method} {failure:?}: {err}");
            assert!(
                published(&server, "reports/daily") == previous,
                "{method} {path} {failure:?} changed the published report"
            );
            server.heal();
            assert_eq!(
                runs(&server, "reports/daily").len(),
                1,
                "{method} {path} {failure:?} left a run"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_missing_bucket_are_clear_errors() {
    let server = Server::start().await;
    let _local = snapshot_in_both(&server);
    let wrong = S3Options {
        secret_access_key: Some("not-the-secret".to_string()),
        ..server.options()
    };
    let store = Store::open_with("s3://exports/exports", &wrong).expect("store");
    let err = Snapshot::open(&store, "latest", false)
        .await
        .expect_err("denied")
        .to_string();
    assert!(err.contains("store 's3://exports/exports'"), "{err}");
    assert!(
        err.to_lowercase().contains("signature") || err.contains("403"),
        "{err}"
    );

    let store = server.store("s3://no-such-bucket/x");
    let err = Snapshot::open(&store, "latest", false)
        .await
        .expect_err("no bucket")
        .to_string();
    assert!(err.contains("s3://no-such-bucket/x"), "{err}");
    assert!(
        err.contains("NoSuchBucket") || err.contains("404") || err.contains("not found"),
        "{err}"
    );

    let no_keys = S3Options {
        access_key_id: None,
        secret_access_key: None,
        ..server.options()
    };
    let err = Store::open_with("s3://exports/x", &no_keys)
        .expect_err("no keys")
        .to_string();
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_slow_endpoints_end_in_bounded_errors() {
    // Connection refused: a port nobody listens on any more.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let options = |addr: SocketAddr| S3Options {
        endpoint: Some(format!("http://{addr}")),
        region: Some("us-east-1".to_string()),
        access_key_id: Some(KEY.to_string()),
        secret_access_key: Some(SECRET.to_string()),
        allow_http: Some(true),
        from_env: false,
        max_retries: 2,
        timeout: Duration::from_secs(1),
        ..S3Options::default()
    };
    let store = Store::open_with("s3://exports/x", &options(closed)).expect("store");
    let err = Snapshot::open(&store, "latest", false)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("s3://exports/x"), "{err}");

    // Accepts connections and never answers: the request timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let store = Store::open_with("s3://exports/x", &options(addr)).expect("store");
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        Snapshot::open(&store, "latest", false),
    )
    .await
    .expect("bounded by the client's timeout and retries")
    .expect_err("timed out")
    .to_string();
    assert!(err.contains("s3://exports/x"), "{err}");
}

/// `snapmetrics customers --out s3://…` run as a process against the test server; the
/// server runs in this test's runtime, so the process is waited for off it.
async fn customers_to(server: &Server, store: &Path, out: &str) -> std::process::Output {
    let mut command = crate::fixtures::command(&[
        "customers",
        "--store",
        &store.to_string_lossy(),
        "--out",
        out,
    ]);
    command.envs(server.env());
    tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("joined")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_are_written_to_s3_whole_or_not_at_all() {
    let server = Server::start().await;
    let local = snapshot_in_both(&server);
    let reports = server.bucket("reports");

    let disk = tempfile::tempdir().expect("dir");
    let on_disk = disk.path().join("customers.csv");
    let output = customers_to(&server, local.path(), &on_disk.to_string_lossy()).await;
    assert!(
        output.status.success(),
        "{}",
        crate::fixtures::stderr(&output)
    );
    let output = customers_to(&server, local.path(), "s3://reports/people/customers.csv").await;
    assert!(
        output.status.success(),
        "{}",
        crate::fixtures::stderr(&output)
    );
    let expected = std::fs::read(&on_disk).expect("local file");
    assert!(expected.starts_with(b"id,"), "a header row first");
    assert_eq!(
        std::fs::read(reports.join("people/customers.csv")).expect("object"),
        expected
    );

    for bad in ["s3://reports", "s3://reports/", "s3://reports/people/"] {
        let output = customers_to(&server, local.path(), bad).await;
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let err = crate::fixtures::stderr(&output);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("names no object"), "{err}");
    }

    server.fail(Fault::new(
        "PUT",
        "failing.csv",
        Failure::Status(500),
        usize::MAX,
    ));
    let output = customers_to(&server, local.path(), "s3://reports/people/failing.csv").await;
    let err = crate::fixtures::stderr(&output);
    // A store that refuses a write is reported as every store error is: exit 2.
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("failing.csv"), "{err}");
    assert!(
        !reports.join("people/failing.csv").exists(),
        "nothing was written"
    );
}
