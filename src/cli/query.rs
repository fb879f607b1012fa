use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::shell::{DEFAULT_MAX_ROWS, ShellArgs};
use super::{ClusterArgs, FilterArgs, SnapshotArgs};
use crate::error::Error;
use crate::metrics;
use crate::output::publish::AtomicFile;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query; or use -f. Without either, the shell (statements from stdin when it
    /// is not a terminal).
    #[arg(conflicts_with = "file")]
    query: Option<String>,
    /// Read the query from a file.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, Args)]
pub struct MetricArgs {
    /// A report file's name without `.csv` (cohort_retention, activation,
    /// onboarding_dropoff, vanity_monthly, data_quality, cohort_retention_unbounded,
    /// cohort_retention_monthly, retention_curve, lifecycle_weekly, active_users_daily,
    /// stickiness_monthly), or one vanity column: total_users, new_users, mau,
    /// transactions, unique_banks, statement_uploads.
    name: String,
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    filters: FilterArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

pub async fn sql(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let query = match (&args.query, &args.file) {
        (Some(query), _) => query.clone(),
        (None, Some(file)) => {
            std::fs::read_to_string(file).map_err(|e| Error::io(file.display(), e))?
        }
        (None, None) => {
            if let Some(cluster) = &args.cluster.cluster {
                let reason = format!("the shell runs here; give a statement to run on {cluster}");
                return Err(Error::invalid("--cluster", reason).into());
            }
            let shell = ShellArgs {
                snapshot: args.snapshot,
                file: None,
                keep_going: false,
                max_rows: DEFAULT_MAX_ROWS,
                format: args.format,
            };
            return super::shell::shell(shell).await;
        }
    };
    check_destination(args.format, args.output.as_ref())?;
    let session = args.snapshot.open_on(args.cluster.cluster).await?;
    let df = session.sql(&query).await?;
    let schema = df.schema().inner().clone();
    let batches = session.stream(df, "query").await?;
    let memory = session.reservation("printing the result");
    match &args.output {
        Some(path) => {
            let mut file = AtomicFile::create(path)?;
            output::write_stream(args.format, &schema, batches, &mut file, memory).await?;
            file.commit()?;
        }
        None => {
            let out = std::io::BufWriter::new(std::io::stdout());
            output::write_stream(args.format, &schema, batches, out, memory).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn metric(args: MetricArgs) -> anyhow::Result<ExitCode> {
    if !metrics::names().contains(&args.name.as_str()) {
        return Err(Error::invalid(
            "metric",
            format!(
                "unknown metric '{}'; choose one of: {}",
                args.name,
                metrics::names().join(", ")
            ),
        )
        .into());
    }
    check_destination(args.format, args.output.as_ref())?;
    let filters = args.filters.filters()?;
    let session = args.snapshot.open_on(args.cluster.cluster).await?;
    let (schema, batches) = metrics::run(&session, &args.name, &filters).await?;
    match &args.output {
        Some(path) => {
            let mut file = AtomicFile::create(path)?;
            output::write(args.format, &schema, &batches, &mut file)?;
            file.commit()?;
        }
        None => output::write(
            args.format,
            &schema,
            &batches,
            &mut std::io::stdout().lock(),
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Parquet is binary: it goes to a file, never to a terminal.
fn check_destination(format: Format, output: Option<&PathBuf>) -> Result<(), Error> {
    if format == Format::Parquet && output.is_none() {
        return Err(Error::invalid(
            "--format",
            "parquet is binary: add --output FILE",
        ));
    }
    Ok(())
}
