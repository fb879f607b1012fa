//! The command line: argument structs and one `run` per subcommand. Only this module
//! prints; everything it calls returns typed errors.

mod audit;
mod check;
#[cfg(feature = "cluster")]
mod cluster;
mod customer;
mod export;
mod generate;
mod query;
mod report;
mod serve;
mod shell;
mod snapshots;

use std::io::Write;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::engine::remote::ClusterUrl;
use crate::engine::session::{Filters, Session, SessionOptions, TransactionsSource};
use crate::error::Error;
use crate::source::snapshot::Snapshot;
use crate::source::store::{S3Options, Store};
use chrono_tz::Tz;

/// Cohort, activation and vanity metrics over Parquet snapshots of the app's database.
#[derive(Debug, Parser)]
#[command(name = "snapmetrics", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the store's snapshots, whether each is complete, and its as_of.
    Snapshots(snapshots::SnapshotsArgs),
    /// List a snapshot's tables with their columns, types and row counts.
    Tables(snapshots::TablesArgs),
    /// Run read-only SQL against a snapshot (with no statement on a terminal: the shell).
    Sql(query::SqlArgs),
    /// An interactive SQL prompt over one snapshot; or run a script of statements.
    Shell(shell::ShellArgs),
    /// Print one metric table.
    Metric(query::MetricArgs),
    /// Count the rows that break the data model; exit 1 when there are too many.
    Check(check::CheckArgs),
    /// Write the metric report files (all together or none).
    Report(report::ReportArgs),
    /// Check a published report against its manifest, its snapshot and a recomputation.
    Verify(audit::VerifyArgs),
    /// Compare two reports file by file and row by key.
    Diff(audit::DiffArgs),
    /// Write a deterministic synthetic snapshot.
    Generate(generate::GenerateArgs),
    /// Write a new snapshot from the application's PostgreSQL database.
    Export(export::ExportArgs),
    /// Print one customer's record (by id, or --token).
    Customer(customer::CustomerArgs),
    /// Write every customer's record to FILE.parquet or FILE.csv.
    Customers(customer::CustomersArgs),
    /// Serve the read-only HTTP JSON API (customers, metrics, snapshots).
    Serve(serve::ServeArgs),
    /// Run a Ballista scheduler that knows snapmetrics' functions.
    #[cfg(feature = "cluster")]
    Scheduler(cluster::SchedulerArgs),
    /// Run a Ballista executor that knows snapmetrics' functions.
    #[cfg(feature = "cluster")]
    Executor(cluster::ExecutorArgs),
}

/// Where the snapshots are.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Store: a directory of snapshots, or s3://bucket/prefix.
    #[arg(long, env = "SNAPMETRICS_STORE", default_value = "./data")]
    pub store: String,
    #[command(flatten)]
    pub s3: S3Args,
}

/// S3 settings beyond the `AWS_*` environment variables.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// S3 endpoint URL (else AWS_ENDPOINT_URL); http:// endpoints also need AWS_ALLOW_HTTP=true.
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// S3 region (else AWS_REGION).
    #[arg(long)]
    pub s3_region: Option<String>,
    /// Use virtual-hosted-style addressing (bucket.host) instead of path style.
    #[arg(long)]
    pub s3_virtual_hosted: bool,
}

impl S3Args {
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            virtual_hosted: self.s3_virtual_hosted,
            ..S3Options::default()
        }
    }
}

impl StoreArgs {
    pub fn open(&self) -> Result<Store, Error> {
        Store::open_with(&self.store, &self.s3.options())
    }
}

/// Which snapshot, and how to register it.
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Snapshot id, or `latest` (the greatest id with _SUCCESS).
    #[arg(long, default_value = "latest")]
    pub snapshot: String,
    /// Read a snapshot that has no _SUCCESS marker yet.
    #[arg(long)]
    pub allow_incomplete: bool,
    /// Register PII columns (users.email, l0_pii_users).
    #[arg(long)]
    pub include_pii: bool,
    /// Which transaction table transactions_all reads (default: l1 when present).
    #[arg(long, value_enum)]
    pub transactions_source: Option<TransactionsSource>,
    /// IANA time zone for week, month and day boundaries.
    #[arg(long, default_value = "UTC", value_parser = parse_tz)]
    pub tz: Tz,
    /// Memory the query engine may use, e.g. 1GB or 512MB: it spills to disk, then fails
    /// cleanly. Default: half of the machine's memory.
    #[arg(long, value_parser = parse_bytes)]
    pub memory_limit: Option<usize>,
    /// Compute every view by its SQL in queries/, never by a faster built-in operator
    /// (the same numbers, more slowly: to check one against the other).
    #[arg(long)]
    pub by_definition: bool,
}

/// Where the queries run: here, or on a Ballista cluster.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Run the queries on a Ballista cluster: df://HOST:PORT of its scheduler (a build
    /// with `--features cluster`; every node must reach the store by the same path).
    #[arg(long, value_parser = parse_cluster)]
    pub cluster: Option<ClusterUrl>,
}

fn parse_cluster(text: &str) -> Result<ClusterUrl, String> {
    ClusterUrl::parse(text).map_err(|e| e.to_string())
}

/// The metric filters.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// First signup date (cohorts) or month (monthly metrics), inclusive: YYYY-MM-DD.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last signup date (cohorts) or month (monthly metrics), inclusive: YYYY-MM-DD.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Only users whose is_active is true or NULL.
    #[arg(long)]
    pub active_only: bool,
    /// The engagement event types, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "login,dashboard_access")]
    pub event_types: Vec<String>,
    /// Only transactions of this bank (account).
    #[arg(long)]
    pub bank: Option<String>,
}

impl FilterArgs {
    fn filters(&self) -> Result<Filters, Error> {
        let filters = Filters {
            from: self.from,
            to: self.to,
            active_only: self.active_only,
            event_types: self
                .event_types
                .iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            bank: self.bank.clone(),
        };
        // The library names the filters; the command line names its flags.
        filters.validate().map_err(|e| match e {
            Error::InvalidArgument { what, reason } => {
                let flag = match what.as_str() {
                    "from" => "--from",
                    "to" => "--to",
                    "from/to" => "--from/--to",
                    "event types" => "--event-types",
                    other => other,
                };
                Error::invalid(flag, reason)
            }
            other => other,
        })?;
        Ok(filters)
    }
}

impl SnapshotArgs {
    async fn open(&self) -> Result<Session, Error> {
        self.open_on(None).await
    }

    /// Opens the snapshot with its queries run on `cluster`, when one is named.
    async fn open_on(&self, cluster: Option<ClusterUrl>) -> Result<Session, Error> {
        let tz = self.tz;
        let store = self.store.open()?;
        let snapshot = Snapshot::open(&store, &self.snapshot, self.allow_incomplete).await?;
        let options = SessionOptions {
            include_pii: self.include_pii,
            tz,
            transactions_source: self.transactions_source,
            memory_limit: self.memory_limit.or_else(half_of_memory),
            cluster,
            definitions_only: self.by_definition,
        };
        Session::open(&store, snapshot, options).await
    }
}

/// Half of `MemTotal` from /proc/meminfo; elsewhere no default bound.
fn half_of_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = info
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024 / 2)
}

fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("'{name}' is not an IANA time zone; use a name such as UTC or Europe/London")
    })
}

fn parse_bytes(text: &str) -> Result<usize, String> {
    let upper = text.trim().to_ascii_uppercase();
    let split = upper
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(upper.len());
    let (number, unit) = upper.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size such as 1GB or 512MB"))?;
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("'{text}' has an unknown unit; use B, KB, MB or GB")),
    };
    Ok((number * scale) as usize)
}

/// The command's own thread: planning recurses over the statement's tree, and
/// generated SQL (a 1000-way `UNION ALL`) is deep. Reserved address space, not memory.
const COMMAND_STACK: usize = 512 << 20;
/// The query threads evaluate expressions recursively too.
const WORKER_STACK: usize = 64 << 20;
const COMMAND_THREAD: &str = "snapmetrics";

/// Parses the arguments and runs the command. A usage error is one line and exit 2, as
/// every other bad input; `--help` and `--version` print as clap prints them.
pub fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => run(cli),
        Err(error) if error.use_stderr() => {
            // clap's first paragraph is the error; usage and tips follow it.
            let rendered = error.to_string();
            let first: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .collect();
            let message = first.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            let _ = writeln!(std::io::stderr(), "snapmetrics: {}", one_line(message));
            ExitCode::from(2)
        }
        Err(error) => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
    }
}

/// Runs the parsed command; prints any error once, to stderr, and maps it to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    // Panics on query threads are contained and reported as errors naming the file;
    // only one on the command's thread is a bug worth the default message.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some(COMMAND_THREAD) {
            default_hook(info);
        }
    }));
    let command = std::thread::Builder::new()
        .name(COMMAND_THREAD.to_string())
        .stack_size(COMMAND_STACK)
        .spawn(move || run_here(cli));
    match command.map(|thread| thread.join()) {
        Ok(Ok(code)) => code,
        // The panic was printed by the hook.
        Ok(Err(_)) => ExitCode::from(101),
        Err(e) => {
            eprintln!("snapmetrics: cannot start the command's thread: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_here(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("snapmetrics: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Snapshots(args) => snapshots::snapshots(args).await,
            Command::Tables(args) => snapshots::tables(args).await,
            Command::Sql(args) => query::sql(args).await,
            Command::Shell(args) => shell::shell(args).await,
            Command::Metric(args) => query::metric(args).await,
            Command::Report(args) => report::report(args).await,
            Command::Verify(args) => audit::verify(args).await,
            Command::Diff(args) => audit::diff(args).await,
            Command::Check(args) => check::check(args).await,
            Command::Generate(args) => generate::generate(args),
            Command::Export(args) => export::export(args).await,
            Command::Customer(args) => customer::customer(args).await,
            Command::Customers(args) => customer::customers(args).await,
            Command::Serve(args) => serve::serve(args).await,
            #[cfg(feature = "cluster")]
            Command::Scheduler(args) => cluster::scheduler(args).await,
            #[cfg(feature = "cluster")]
            Command::Executor(args) => cluster::executor(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            // Library errors already carry their causes; anyhow's chain would repeat them.
            let message = match error.downcast_ref::<Error>() {
                Some(error) => error.to_string(),
                None => format!("{error:#}"),
            };
            let _ = writeln!(std::io::stderr(), "snapmetrics: {}", one_line(&message));
            ExitCode::from(error_code(&error))
        }
    }
}

/// The library error's kind decides ([`crate::error::ErrorKind::exit_code`]); an error
/// from outside the library is a failure, not bad input.
fn error_code(error: &anyhow::Error) -> u8 {
    error
        .downcast_ref::<Error>()
        .map_or(1, |error| error.kind().exit_code())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Errors go to one line, so a nightly job's log has one line per failure; names from
/// a store or the user are data, their control characters escaped.
fn one_line(message: &str) -> String {
    let words = message.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::output::printable(&words).into_owned()
}
