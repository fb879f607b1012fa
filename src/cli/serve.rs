//! `snapmetrics serve`: the read-only HTTP API (see `crate::api`).

use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use super::SnapshotArgs;
use crate::api::{self, Api, ApiConfig, Auth, PII_TOKENS_ENV, TOKENS_ENV};
use crate::error::Error;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Serve without bearer tokens; only allowed on a loopback address. With
    /// --include-pii every caller may then ask for PII.
    #[arg(long)]
    no_auth: bool,
    /// Longest a request may take, in seconds (waiting for a slot included).
    #[arg(long, default_value_t = NonZeroU64::new(30).expect("non-zero"))]
    request_timeout: NonZeroU64,
    /// Requests handled at once; more wait for a slot.
    #[arg(long, default_value_t = NonZeroUsize::new(64).expect("non-zero"))]
    max_concurrent_requests: NonZeroUsize,
    /// Metric computations at once (default: the number of cores); more wait, within
    /// their request's timeout, while customer lookups go on.
    #[arg(long)]
    max_concurrent_metrics: Option<NonZeroUsize>,
    /// Open connections at most; more wait to be accepted.
    #[arg(long, default_value_t = NonZeroUsize::new(4096).expect("non-zero"))]
    max_connections: NonZeroUsize,
    /// Seconds a connection may take to send a request's headers, or stay idle between
    /// requests, before it is closed.
    #[arg(long, default_value_t = NonZeroU64::new(10).expect("non-zero"))]
    idle_timeout: NonZeroU64,
    #[command(flatten)]
    snapshot: SnapshotArgs,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Tokens come only from the environment: a flag would show them in `ps`.
    let read = std::env::var(TOKENS_ENV).ok();
    let pii = std::env::var(PII_TOKENS_ENV).ok();
    let auth = Auth::configure(
        read.as_deref(),
        pii.as_deref(),
        args.no_auth,
        args.snapshot.include_pii,
        args.bind,
    )?;
    let engine = Engine::start()?;
    let defaults = ApiConfig::default();
    let config = ApiConfig {
        request_timeout: Duration::from_secs(args.request_timeout.get()),
        max_concurrent_requests: args.max_concurrent_requests.get(),
        max_concurrent_metrics: args
            .max_concurrent_metrics
            .map_or(defaults.max_concurrent_metrics, NonZeroUsize::get),
        max_connections: args.max_connections.get(),
        idle_timeout: Duration::from_secs(args.idle_timeout.get()),
        engine: engine.handle(),
        ..defaults
    };
    let started = Instant::now();
    let mut snapshot = args.snapshot.clone();
    // The session holds PII only when some caller may be granted it.
    snapshot.include_pii = auth.grants_pii();
    let session = snapshot.open().await?;
    let api = Arc::new(Api::new(session, auth, config).await?);
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| Error::io(args.bind, e))?;
    let session = api.session();
    eprintln!(
        "serving snapshot {} (as_of {}, {} customers, ready in {:.1} s) on http://{}; OpenAPI at /openapi.json",
        session.snapshot().id,
        session
            .as_of()
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        api.customers().len(),
        started.elapsed().as_secs_f64(),
        listener.local_addr().unwrap_or(args.bind),
    );
    api::serve(listener, api, std::future::pending()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The runtime the metric queries run on, beside the one that serves HTTP: queries
/// keep their threads busy, and the server's accept loop and timers must not wait.
struct Engine {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Engine {
    fn start() -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("snapmetrics-engine")
            .thread_stack_size(super::WORKER_STACK)
            .enable_all()
            .build()
            .map_err(|e| Error::internal("starting the query runtime", e))?;
        Ok(Engine {
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.runtime.as_ref().map(|r| r.handle().clone())
    }
}

impl Drop for Engine {
    /// Without waiting: a runtime may not block inside another one.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
