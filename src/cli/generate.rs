use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::generate::{GenerateOptions, Layout, generate as write_snapshot};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The snapshot folder to create: STORE/ID (must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Number of users.
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// RNG seed; the same seed and --users give the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// How rows sit in the files: the generator's own layout (grouped by user, ZSTD), or
    /// append-only (events in time order, Snappy, default row groups). Same rows either way.
    #[arg(long, value_enum, default_value_t = Layout::Generator)]
    layout: Layout,
}

pub fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let options = GenerateOptions {
        layout: args.layout,
        ..GenerateOptions::new(args.users, args.seed)
    };
    let bar = ProgressBar::new(args.users);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} users {elapsed_precise} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = write_snapshot(&args.out, &options, &|done| bar.set_position(done))?;
    bar.finish_and_clear();
    let rows = summary.total_rows();
    eprintln!(
        "wrote {} rows in {} files ({:.1} MB) to {} in {:.1}s ({:.0} rows/s)",
        rows,
        summary.files,
        summary.bytes as f64 / 1e6,
        args.out.display(),
        summary.seconds,
        rows as f64 / summary.seconds.max(1e-9)
    );
    for (table, n) in &summary.rows {
        eprintln!("  {table}: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
