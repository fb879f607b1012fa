use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{FilterArgs, SnapshotArgs};
use crate::report::{self, ReportFormat};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report folder; replaced as a whole when the run succeeds.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    filters: FilterArgs,
    /// Formats to write; csv is always written.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "csv")]
    format: Vec<ReportFormat>,
}

pub async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let session = args.snapshot.open(args.filters.filters()?).await?;
    let written = report::write(&session, &args.out, &args.format).await?;
    eprintln!(
        "wrote {} files to {} (snapshot {}, as_of {} from {})",
        written.files.len(),
        args.out.display(),
        session.snapshot().id,
        session
            .as_of()
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        session.as_of().source
    );
    Ok(ExitCode::SUCCESS)
}
