use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::S3Args;
use crate::export::{Database, ExportOptions, Progress, export as export_snapshot};
use crate::source::store::Store;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The database: postgres://user@host:port/dbname or "host=… dbname=…"; the password
    /// from the string, PGPASSWORD or the password file (~/.pgpass, PGPASSFILE).
    #[arg(long, env = "SNAPMETRICS_SOURCE", hide_env_values = true)]
    source: String,
    /// The store to write the new snapshot into: a directory, or s3://bucket/prefix.
    #[arg(long)]
    out: String,
    /// Snapshot id (default: the export's start, as YYYY-MM-DDTHHMMSSZ); must be new.
    #[arg(long)]
    id: Option<String>,
    /// Export users.email and l0_pii_users too (the manifest records it).
    #[arg(long)]
    include_pii: bool,
    /// Connections reading tables at once (each one more backend on the server); all
    /// read the same snapshot of the database.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Report progress when stderr is not a terminal too: a plain line per table at most
    /// once a second, for a log.
    #[arg(long)]
    progress: bool,
    #[command(flatten)]
    s3: S3Args,
}

pub async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let database = Database::parse(&args.source)?;
    if !args.out.contains("://") {
        std::fs::create_dir_all(&args.out).map_err(|e| crate::error::Error::io(&args.out, e))?;
    }
    let store = Store::open_with(&args.out, &args.s3.options())?;
    let options = ExportOptions {
        id: args.id.clone(),
        include_pii: args.include_pii,
        jobs: usize::from(args.jobs),
        ..ExportOptions::default()
    };
    let terminal = std::io::stderr().is_terminal();
    let bars = MultiProgress::with_draw_target(if terminal {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{prefix:>22} {spinner} {human_pos} rows, {per_sec} {elapsed}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let open: Mutex<HashMap<&'static str, ProgressBar>> = Mutex::new(HashMap::new());
    let log = Mutex::new(LogLines::new());
    let progress = |p: &Progress| {
        if !terminal {
            if args.progress {
                log.lock().unwrap_or_else(|e| e.into_inner()).tell(p);
            }
            return;
        }
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        let bar = open.entry(p.table).or_insert_with(|| {
            let bar = bars.add(ProgressBar::new_spinner().with_style(style.clone()));
            bar.set_prefix(p.table);
            bar
        });
        bar.set_position(p.rows);
        if p.done {
            bar.finish();
        }
    };
    let summary = export_snapshot(&database, &store, &options, &progress).await;
    let _ = bars.clear();
    let summary = summary?;
    for table in &summary.tables {
        eprintln!(
            "  {}: {} rows in {} file{} ({:.1} s, {:.0} rows/s)",
            table.table,
            table.rows,
            table.files,
            if table.files == 1 { "" } else { "s" },
            table.seconds,
            table.rows as f64 / table.seconds.max(1e-9),
        );
    }
    eprintln!(
        "exported snapshot {} (exported_at {}, PII {}) from {} to {}",
        summary.id,
        summary.exported_at,
        if summary.include_pii {
            "included"
        } else {
            "left out"
        },
        database.name(),
        store.location()
    );
    Ok(ExitCode::SUCCESS)
}

/// Progress where stderr is a log rather than a terminal: a line per table when it is done,
/// and one per table at most once a second while it is read; no cursor movements to
/// garble a file.
struct LogLines {
    /// When each table being read was started, and when it was last reported.
    tables: HashMap<&'static str, (Instant, Option<Instant>)>,
}

impl LogLines {
    fn new() -> LogLines {
        LogLines {
            tables: HashMap::new(),
        }
    }

    fn tell(&mut self, p: &Progress) {
        let now = Instant::now();
        let (started, last_line) = self.tables.entry(p.table).or_insert((now, None));
        let due = last_line.is_none_or(|last| now - last >= Duration::from_secs(1));
        if !(p.done || p.rows > 0 && due) {
            return;
        }
        let seconds = (now - *started).as_secs_f64().max(1e-9);
        eprintln!(
            "  {}: {} rows {}, {:.0} rows/s",
            p.table,
            p.rows,
            if p.done { "read" } else { "so far" },
            p.rows as f64 / seconds
        );
        *last_line = Some(now);
        if p.done {
            self.tables.remove(p.table);
        }
    }
}
