use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{S3Args, StoreArgs, half_of_memory, parse_bytes};
use crate::audit::ReportFiles;
use crate::audit::diff::{self, DiffOptions};
use crate::audit::verify::{self, VerifyOptions};
use crate::error::Error;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The report: the folder `report --out` wrote, or its s3://bucket/prefix.
    report: String,
    /// Where the snapshot is now (the report names the snapshot by id).
    #[command(flatten)]
    store: StoreArgs,
    /// Check outputs, inputs and definitions only; do not recompute the report.
    #[arg(long)]
    no_recompute: bool,
    #[arg(long, value_parser = parse_bytes)]
    memory_limit: Option<usize>,
}

/// Prints one line per check; exits 0 when everything holds, 1 when something differs.
pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = ReportFiles::open(&args.report, &args.store.s3.options()).await?;
    let store = args.store.open()?;
    let options = VerifyOptions {
        recompute: !args.no_recompute,
        memory_limit: args.memory_limit.or_else(half_of_memory),
    };
    let verdict = verify::verify(&report, &store, &options).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for finding in &verdict.findings {
        writeln!(out, "{}", output::printable(&finding.to_string()))
            .map_err(|e| Error::io("stdout", e))?;
    }
    out.flush().map_err(|e| Error::io("stdout", e))?;
    Ok(if verdict.holds() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What `diff` prints: the result formats that suit a list of differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Table,
    Csv,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier report (a folder or s3://bucket/prefix).
    old: String,
    /// The later report.
    new: String,
    /// Only rows complete in OLD (published numbers that changed); skips
    /// cohort_retention_unbounded.csv and files without is_complete.
    #[arg(long)]
    restated: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: DiffFormat,
    #[command(flatten)]
    s3: S3Args,
}

/// Prints the differences; exits 0 when there are none, 1 when there are (like `diff`).
pub async fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let s3 = args.s3.options();
    let old = ReportFiles::open(&args.old, &s3).await?;
    let new = ReportFiles::open(&args.new, &s3).await?;
    let options = DiffOptions {
        restated: args.restated,
    };
    let differences = diff::diff(&old, &new, options).await?;
    let format = match args.format {
        DiffFormat::Table => Format::Table,
        DiffFormat::Csv => Format::Csv,
        DiffFormat::Json => Format::Json,
        DiffFormat::Markdown => Format::Markdown,
    };
    // An empty table would print only its frame: nothing differs, nothing to show.
    if !(differences.is_empty() && format == Format::Table) {
        let (schema, batch) = diff::to_batch(&differences)?;
        output::write(format, &schema, &[batch], &mut std::io::stdout().lock())?;
    }
    Ok(if differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
