//! `snapmetrics serve`: the read-only HTTP API (see `crate::api`).

use std::net::SocketAddr;
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
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// Requests handled at once; more wait for a slot.
    #[arg(long, default_value_t = 64)]
    max_concurrent_requests: usize,
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
    if args.request_timeout == 0 {
        return Err(Error::invalid("--request-timeout", "must be at least 1 second").into());
    }
    let config = ApiConfig {
        request_timeout: Duration::from_secs(args.request_timeout),
        max_concurrent_requests: args.max_concurrent_requests,
        ..ApiConfig::default()
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
