use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::parse_bytes;
use crate::cluster::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on for clients and executors.
    #[arg(long, default_value = "127.0.0.1:50050")]
    bind: SocketAddr,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to serve: HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:50050")]
    scheduler: SocketAddr,
    /// Address for results and shuffles (Arrow Flight); the host is what the scheduler
    /// and clients connect to.
    #[arg(long, default_value = "127.0.0.1:50051")]
    bind: SocketAddr,
    /// Port the scheduler pushes tasks to (a second executor on the host needs its own).
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long)]
    concurrent_tasks: Option<usize>,
    /// Directory for shuffle files (default: a folder under the system's temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Memory the executor's tasks may use, e.g. 2GB (default: Ballista's 70% of memory).
    #[arg(long, value_parser = parse_bytes)]
    memory_limit: Option<usize>,
}

pub async fn scheduler(args: SchedulerArgs) -> anyhow::Result<ExitCode> {
    eprintln!("snapmetrics scheduler listening on {}", args.bind);
    run_scheduler(&SchedulerOptions { bind: args.bind }).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn executor(args: ExecutorArgs) -> anyhow::Result<ExitCode> {
    let work_dir = args.work_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("snapmetrics-executor-{}", args.bind.port()))
    });
    let options = ExecutorOptions {
        scheduler: args.scheduler,
        bind: args.bind,
        grpc_port: args.grpc_port,
        concurrent_tasks: args
            .concurrent_tasks
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1),
        work_dir,
        memory_limit: args.memory_limit.map(|bytes| bytes as u64),
    };
    eprintln!(
        "snapmetrics executor on {} (tasks on port {}), serving the scheduler at {}",
        options.bind, options.grpc_port, options.scheduler
    );
    run_executor(&options).await?;
    Ok(ExitCode::SUCCESS)
}
