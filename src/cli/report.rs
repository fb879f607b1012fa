use std::process::ExitCode;

use clap::Args;

use super::{ClusterArgs, FilterArgs, SnapshotArgs};
use crate::output::publish::Destination;
use crate::output::report::{self, ReportFormat};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report folder, or s3://bucket/prefix; replaced as a whole when the run succeeds.
    #[arg(long)]
    out: String,
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    filters: FilterArgs,
    /// Formats to write; csv is always written, html by default (`--format csv`: CSV only).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv,html")]
    format: Vec<FormatArg>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// A value of `--format`: `csv` names the files every report has, so it adds nothing
/// and only leaves the others out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Parquet,
    Json,
    Html,
}

impl FormatArg {
    fn extra(self) -> Option<ReportFormat> {
        match self {
            FormatArg::Csv => None,
            FormatArg::Parquet => Some(ReportFormat::Parquet),
            FormatArg::Json => Some(ReportFormat::Json),
            FormatArg::Html => Some(ReportFormat::Html),
        }
    }
}

pub async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let destination = Destination::parse(&args.out, &args.snapshot.store.s3.options())?;
    destination.check(&args.snapshot.store.open()?).await?;
    let filters = args.filters.filters()?;
    let session = args.snapshot.open_on(args.cluster.cluster).await?;
    let extras: Vec<ReportFormat> = args.format.iter().filter_map(|f| f.extra()).collect();
    let written = report::write(&session, &filters, destination.clone(), &extras).await?;
    eprintln!(
        "wrote {} files to {} (snapshot {}, as_of {} from {})",
        written.files.len(),
        destination.display(),
        session.snapshot().id,
        session
            .as_of()
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        session.as_of().source
    );
    Ok(ExitCode::SUCCESS)
}
