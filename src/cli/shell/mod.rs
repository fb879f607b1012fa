//! `snapmetrics shell`: an interactive SQL prompt over one opened snapshot, and the same
//! reading of a script (`-f FILE`, or statements on stdin). The snapshot is opened once;
//! `\metric` binds its filters per question, `\snapshot` switches.

mod helper;
mod input;
mod table;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Parser, ValueEnum};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor};

use self::helper::{ShellHelper, Vocabulary};
use self::input::{Item, Located};
use super::{FilterArgs, SnapshotArgs, one_line};
use crate::engine::describe;
use crate::engine::session::Session;
use crate::error::{Error, Result};
use crate::metrics;
use crate::output::publish::AtomicFile;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct ShellArgs {
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
    /// Run the statements and meta-commands of FILE in order, then exit.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// In a script, go on after a statement fails (the exit code still says it failed).
    #[arg(long)]
    pub keep_going: bool,
    /// Rows a table result shows; the rest are counted. 0 shows every row.
    #[arg(long, default_value_t = DEFAULT_MAX_ROWS)]
    pub max_rows: usize,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Rows a table result shows unless `--max-rows` says otherwise.
pub const DEFAULT_MAX_ROWS: usize = 40;

/// `\i` files may include others, up to this depth (a file including itself stops).
const MAX_INCLUDE_DEPTH: usize = 16;

/// A query running longer than this shows its progress on stderr.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

const HELP: &str = "\
Statements end with ';' and may span lines. Meta-commands take one line:
  \\d [NAME]              tables and views (kind, rows), or NAME's columns
  \\summarize NAME        per column: type, count, nulls, distinct (approx.), min, max, mean
  \\metric NAME [FILTERS] a metric on this snapshot: --from, --to, --active-only,
                         --event-types, --bank (as `snapmetrics metric`)
  \\snapshot ID|latest    switch to another snapshot of the store
  \\format FORMAT         table, csv, json, markdown or parquet (parquet needs \\o)
  \\o [FILE]              write results to FILE; without FILE, back to the terminal
  \\i FILE                run the statements of FILE
  \\timing [on|off]       print how long each statement took
  \\?                     this help
  \\q                     quit (or Ctrl-D); Ctrl-C cancels the running query
";

/// Runs the shell: interactive on a terminal, else the script on stdin or `-f`.
pub async fn shell(args: ShellArgs) -> anyhow::Result<ExitCode> {
    let interactive = args.file.is_none() && std::io::stdin().is_terminal();
    let session = args.snapshot.open().await?;
    let mut shell = Shell {
        vocabulary: vocabulary(&session).await,
        session,
        snapshot: args.snapshot.clone(),
        printer: Printer {
            format: args.format,
            output: None,
            max_rows: args.max_rows,
            width: None,
            progress: None,
        },
        timing: false,
        depth: 0,
    };
    if interactive {
        return shell.interact().await;
    }
    let (name, text) = match &args.file {
        Some(path) => (path.display().to_string(), read_script("--file", path)?),
        None => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| Error::io("stdin", e))?;
            ("stdin".to_string(), text)
        }
    };
    shell.printer.width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    Ok(shell.script(&name, &text, args.keep_going).await)
}

/// What the shell holds between statements.
struct Shell {
    session: Session,
    /// How the session was opened, for `\snapshot`.
    snapshot: SnapshotArgs,
    vocabulary: Vocabulary,
    printer: Printer,
    timing: bool,
    depth: usize,
}

/// Where and how results are written.
struct Printer {
    format: Format,
    output: Option<Output>,
    max_rows: usize,
    /// The terminal's width, that tables fit.
    width: Option<usize>,
    /// Where a running query's progress is drawn, if anywhere.
    progress: Option<tokio::runtime::Handle>,
}

/// Where `\o` sends results.
struct Output {
    path: PathBuf,
    /// Text formats append to it; a Parquet result replaces it.
    file: std::fs::File,
}

enum Flow {
    Continue,
    Quit,
}

impl Shell {
    async fn interact(mut self) -> anyhow::Result<ExitCode> {
        let config = Config::builder()
            .max_history_size(10_000)?
            .history_ignore_dups(true)?
            .history_ignore_space(true)
            .auto_add_history(false)
            .build();
        let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(ShellHelper::new(self.vocabulary.clone())));
        // Query text may hold PII, so a session that can read it writes no history.
        let history = (!self.snapshot.include_pii).then(history_file).flatten();
        if let Some(path) = &history
            && path.exists()
        {
            // A history that cannot be read is no reason not to start.
            let _ = editor.load_history(path);
        }
        self.banner();
        // Only the prompt needs a thread that answers while a query runs.
        let control = Control::start()?;
        if std::io::stderr().is_terminal() {
            self.printer.progress = Some(control.handle());
        }
        let interrupt = control.interrupts()?;
        loop {
            let prompt = format!("{}> ", output::printable(&self.session.snapshot().id));
            let text = match editor.readline(&prompt) {
                Ok(text) => text,
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            };
            if text.trim().is_empty() {
                continue;
            }
            let _ = editor.add_history_entry(text.trim());
            if let Some(path) = &history {
                save_history(&mut editor, path);
            }
            self.printer.width = editor.dimensions().map(|(columns, _)| usize::from(columns));
            let split = input::split(&text);
            let before = self.session.snapshot().id.clone();
            let mut flow = Flow::Continue;
            for located in split.items.iter().chain(&split.unfinished) {
                let outcome = tokio::select! {
                    outcome = self.run(&located.item) => outcome,
                    () = interrupt.notified() => {
                        eprintln!("query cancelled");
                        break;
                    }
                };
                match outcome {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Quit) => {
                        flow = Flow::Quit;
                        break;
                    }
                    Err(error) => {
                        report(None, &error);
                        break;
                    }
                }
            }
            if self.session.snapshot().id != before
                && let Some(helper) = editor.helper_mut()
            {
                helper.vocabulary = self.vocabulary.clone();
            }
            if matches!(flow, Flow::Quit) {
                break;
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Runs a script's items in order; stops at the first failure unless `keep_going`.
    async fn script(&mut self, name: &str, text: &str, keep_going: bool) -> ExitCode {
        let split = input::split(text);
        let mut failed = None;
        for located in split.items.iter().chain(&split.unfinished) {
            match self.run(&located.item).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => break,
                Err(error) if error.is_broken_pipe() => return ExitCode::SUCCESS,
                Err(error) => {
                    report(Some((name, located)), &error);
                    failed = failed.or(Some(error.kind().exit_code()));
                    if !keep_going {
                        break;
                    }
                }
            }
        }
        failed.map_or(ExitCode::SUCCESS, ExitCode::from)
    }

    fn banner(&self) {
        let as_of = self
            .session
            .as_of()
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        println!(
            "snapmetrics {} shell: snapshot {} (as_of {as_of}), {} relations. \\? for help, \\q to quit.",
            env!("CARGO_PKG_VERSION"),
            output::printable(&self.session.snapshot().id),
            self.vocabulary.relations.len(),
        );
    }

    async fn run(&mut self, item: &Item) -> Result<Flow> {
        let started = Instant::now();
        let flow = match item {
            Item::Sql(sql) => {
                self.sql(sql).await?;
                Flow::Continue
            }
            Item::Meta(line) => self.meta(line).await?,
        };
        let queried = match item {
            Item::Sql(_) => true,
            Item::Meta(line) => ["d", "summarize", "metric", "i", "snapshot"]
                .contains(&line.split_whitespace().next().unwrap_or_default()),
        };
        if self.timing && queried {
            eprintln!("Time: {:.3} s", started.elapsed().as_secs_f64());
        }
        Ok(flow)
    }

    async fn sql(&mut self, sql: &str) -> Result<()> {
        let df = self.session.sql(sql).await?;
        let schema = df.schema().inner().clone();
        let batches = self.session.stream(df, "query").await?;
        self.printer.print(&self.session, schema, batches).await
    }

    async fn meta(&mut self, line: &str) -> Result<Flow> {
        let words = input::words(line).map_err(|reason| Error::invalid("meta-command", reason))?;
        let (command, arguments) = match words.split_first() {
            Some((command, arguments)) => (command.as_str(), arguments),
            None => ("?", &[][..]),
        };
        let one = |usage: &str| -> Result<&str> {
            match arguments {
                [argument] => Ok(argument.as_str()),
                _ => Err(Error::invalid(
                    format!("\\{command}"),
                    format!("usage: {usage}"),
                )),
            }
        };
        match command {
            "q" | "quit" => return Ok(Flow::Quit),
            "?" | "h" | "help" => {
                self.printer.write_text(HELP)?;
            }
            "d" if arguments.is_empty() => {
                let relations = describe::relations(&self.session).await?;
                self.printer
                    .print_batch(&self.session, describe::listing(&relations)?)
                    .await?;
            }
            "d" => {
                let relation = describe::relation(&self.session, one("\\d [NAME]")?).await?;
                self.printer
                    .print_batch(&self.session, describe::columns(&relation)?)
                    .await?;
            }
            "summarize" => {
                let relation = describe::relation(&self.session, one("\\summarize NAME")?).await?;
                let summary = describe::summarize(&self.session, &relation).await?;
                self.printer.print_batch(&self.session, summary).await?;
            }
            "timing" => {
                self.timing = match arguments {
                    [] => !self.timing,
                    [on] if on == "on" => true,
                    [off] if off == "off" => false,
                    _ => return Err(Error::invalid("\\timing", "usage: \\timing [on|off]")),
                };
                let state = if self.timing { "on" } else { "off" };
                eprintln!("Timing is {state}.");
            }
            "format" => {
                let name = one("\\format table|csv|json|markdown|parquet")?;
                self.printer.format = Format::from_str(name, true).map_err(|_| {
                    Error::invalid(
                        "\\format",
                        format!(
                            "unknown format '{name}'; use table, csv, json, markdown or parquet"
                        ),
                    )
                })?;
            }
            "o" => {
                self.printer.output = match arguments {
                    [] => None,
                    [path] => {
                        let path = PathBuf::from(path);
                        let file = std::fs::File::create(&path)
                            .map_err(|e| Error::io(path.display(), e))?;
                        Some(Output { path, file })
                    }
                    _ => return Err(Error::invalid("\\o", "usage: \\o [FILE]")),
                };
            }
            "i" => {
                let path = PathBuf::from(one("\\i FILE")?);
                self.include(&path).await?;
            }
            "metric" => self.metric(arguments).await?,
            "snapshot" => self.switch(one("\\snapshot ID|latest")?).await?,
            other => {
                return Err(Error::invalid(
                    "meta-command",
                    format!("unknown command \\{other}; \\? lists them"),
                ));
            }
        }
        Ok(Flow::Continue)
    }

    async fn include(&mut self, path: &Path) -> Result<()> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(Error::invalid(
                "\\i",
                format!(
                    "{} includes files {MAX_INCLUDE_DEPTH} deep; does it include itself?",
                    path.display()
                ),
            ));
        }
        let text = read_script("\\i", path)?;
        self.depth += 1;
        let mut result = Ok(());
        let split = input::split(&text);
        for located in split.items.iter().chain(&split.unfinished) {
            match Box::pin(self.run(&located.item)).await {
                Ok(_) => {}
                Err(error) => {
                    result = Err(Error::invalid(
                        format!("{}:{}", path.display(), located.line),
                        error.to_string(),
                    ));
                    break;
                }
            }
        }
        self.depth -= 1;
        result
    }

    async fn metric(&mut self, arguments: &[String]) -> Result<()> {
        let parsed = MetricLine::try_parse_from(arguments).map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            Error::invalid("\\metric", first.trim_start_matches("error: ").to_string())
        })?;
        let filters = parsed.filters.filters()?;
        let (schema, batches) = metrics::run(&self.session, &parsed.name, &filters).await?;
        self.printer
            .print(
                &self.session,
                schema,
                futures::stream::iter(batches.into_iter().map(Ok)),
            )
            .await
    }

    async fn switch(&mut self, id: &str) -> Result<()> {
        let mut args = self.snapshot.clone();
        args.snapshot = id.to_string();
        let session = args.open().await?;
        self.vocabulary = vocabulary(&session).await;
        self.session = session;
        eprintln!(
            "snapshot {} (as_of {})",
            output::printable(&self.session.snapshot().id),
            self.session
                .as_of()
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
        Ok(())
    }
}

impl Printer {
    async fn print_batch(&mut self, session: &Session, batch: RecordBatch) -> Result<()> {
        let schema = batch.schema();
        self.print(session, schema, futures::stream::iter([Ok(batch)]))
            .await
    }

    /// Writes a result where `\o` and `\format` say; a table on the terminal shows its
    /// first `max_rows` rows, fitted to the terminal's width, and counts the rest.
    async fn print(
        &mut self,
        session: &Session,
        schema: SchemaRef,
        batches: impl Stream<Item = Result<RecordBatch>> + Unpin,
    ) -> Result<()> {
        let rows = Arc::new(AtomicU64::new(0));
        let _progress = self
            .progress
            .as_ref()
            .map(|control| Progress::start(control, rows.clone()));
        let counted = batches.inspect(|batch| {
            if let Ok(batch) = batch {
                rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            }
        });
        let memory = session.reservation("printing the result");
        match (&mut self.output, self.format) {
            (Some(output), Format::Parquet) => {
                let mut file = AtomicFile::create(&output.path)?;
                output::write_stream(Format::Parquet, &schema, counted, &mut file, memory).await?;
                file.commit()?;
            }
            (None, Format::Parquet) => {
                return Err(Error::invalid(
                    "\\format",
                    "parquet is binary: send it to a file with \\o FILE first",
                ));
            }
            (Some(output), format) => {
                let out = std::io::BufWriter::new(&mut output.file);
                output::write_stream(format, &schema, counted, out, memory).await?;
            }
            (None, Format::Table) => {
                let shown = first_rows(counted, self.max_rows).await?;
                let total = rows.load(Ordering::Relaxed);
                let mut text = table::render(&schema, &shown, self.width)?;
                let kept: u64 = shown.iter().map(|b| b.num_rows() as u64).sum();
                let plural = if total == 1 { "" } else { "s" };
                text.push_str(&match total - kept {
                    0 => format!("{total} row{plural}\n"),
                    hidden => format!(
                        "{total} row{plural}, {hidden} not shown (--max-rows {}; \\format csv with \\o FILE writes all)\n",
                        self.max_rows
                    ),
                });
                drop(_progress);
                self.write_text(&text)?;
            }
            (None, format) => {
                let out = std::io::BufWriter::new(std::io::stdout());
                drop(_progress);
                output::write_stream(format, &schema, counted, out, memory).await?;
            }
        }
        Ok(())
    }

    fn write_text(&mut self, text: &str) -> Result<()> {
        let result = match &mut self.output {
            Some(output) => output.file.write_all(text.as_bytes()),
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes()).and_then(|()| out.flush())
            }
        };
        result.map_err(|e| Error::io("output", e))
    }
}

/// A script the user named: one that cannot be read is bad input, not an I/O fault.
fn read_script(what: &str, path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(what, format!("cannot read {}: {e}", path.display())))
}

/// The first `limit` rows of `batches` (all when `limit` is 0); the rest are read and
/// dropped, so that the count is whole and memory holds only what is shown.
async fn first_rows(
    mut batches: impl Stream<Item = Result<RecordBatch>> + Unpin,
    limit: usize,
) -> Result<Vec<RecordBatch>> {
    let mut kept = Vec::new();
    let mut room = if limit == 0 { usize::MAX } else { limit };
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        if room > 0 {
            let take = room.min(batch.num_rows());
            kept.push(batch.slice(0, take));
            room -= take;
        }
    }
    Ok(kept)
}

/// `\metric`'s arguments, parsed as `snapmetrics metric` parses its own.
#[derive(Debug, Parser)]
#[command(name = "\\metric", no_binary_name = true, disable_help_flag = true)]
struct MetricLine {
    name: String,
    #[command(flatten)]
    filters: FilterArgs,
}

/// Prints a failure on one line; a script's says where in the script it was.
fn report(at: Option<(&str, &Located)>, error: &Error) {
    let message = one_line(&error.to_string());
    match at {
        Some((name, located)) => eprintln!("snapmetrics: {name}:{}: {message}", located.line),
        None => eprintln!("snapmetrics: {message}"),
    }
}

async fn vocabulary(session: &Session) -> Vocabulary {
    let mut vocabulary = Vocabulary::default();
    // Completion is a convenience: a relation that cannot be described is left out.
    for relation in describe::relations(session).await.unwrap_or_default() {
        let columns = relation
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        vocabulary.relations.insert(relation.name, columns);
    }
    let state = session.context().state();
    vocabulary.functions = state
        .scalar_functions()
        .keys()
        .chain(state.aggregate_functions().keys())
        .chain(state.window_functions().keys())
        .cloned()
        .collect();
    vocabulary.metrics = metrics::names().into_iter().map(str::to_string).collect();
    vocabulary.snapshots = crate::source::snapshot::list(session.store())
        .await
        .map(|entries| entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default();
    vocabulary
}

/// The history file: `$XDG_STATE_HOME/snapmetrics/history`, else
/// `~/.local/state/snapmetrics/history`.
fn history_file() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("snapmetrics").join("history"))
}

/// Appends the new entries; the file is the user's alone, since queries may hold
/// customer ids. A history that cannot be written does not stop the shell.
fn save_history(editor: &mut Editor<ShellHelper, FileHistory>, path: &Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let _ = options.open(path);
    }
    let _ = editor.append_history(path);
}

/// Elapsed time and rows on stderr while a query runs past [`PROGRESS_AFTER`]; the line
/// is cleared when it is dropped.
struct Progress {
    task: tokio::task::JoinHandle<()>,
    /// Whether the line is on the screen; `None` once stopped.
    shown: Arc<Mutex<Option<bool>>>,
}

impl Progress {
    fn start(control: &tokio::runtime::Handle, rows: Arc<AtomicU64>) -> Self {
        let shown = Arc::new(Mutex::new(Some(false)));
        let state = shown.clone();
        let started = Instant::now();
        let task = control.spawn(async move {
            tokio::time::sleep(PROGRESS_AFTER).await;
            loop {
                if let Ok(mut shown) = state.lock() {
                    let Some(on_screen) = shown.as_mut() else {
                        return;
                    };
                    *on_screen = true;
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r\x1b[K{:.1} s, {} rows",
                        started.elapsed().as_secs_f64(),
                        rows.load(Ordering::Relaxed)
                    );
                    let _ = err.flush();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress { task, shown }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        if let Ok(mut shown) = self.shown.lock()
            && shown.take() == Some(true)
        {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

/// The shell's own thread and runtime, for what must answer while a query keeps every
/// engine thread busy: Ctrl-C and the progress line. On the engine's runtime, both
/// would wait for the query to yield.
struct Control {
    runtime: tokio::runtime::Handle,
}

impl Control {
    fn start() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal("starting the shell's control thread", e))?;
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("snapmetrics-shell".to_string())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .map_err(|e| Error::internal("starting the shell's control thread", e))?;
        Ok(Control { runtime: handle })
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.clone()
    }

    /// Notified at each Ctrl-C, which from now on no longer ends the process.
    fn interrupts(&self) -> Result<Arc<tokio::sync::Notify>> {
        let notify = Arc::new(tokio::sync::Notify::new());
        let notifier = notify.clone();
        let (ready, installed) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let mut interrupts =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
                    Ok(interrupts) => {
                        let _ = ready.send(Ok(()));
                        interrupts
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
            while interrupts.recv().await.is_some() {
                notifier.notify_waiters();
            }
        });
        match installed.recv() {
            Ok(Ok(())) => Ok(notify),
            Ok(Err(e)) => Err(Error::internal("handling Ctrl-C", e)),
            Err(e) => Err(Error::internal("handling Ctrl-C", e)),
        }
    }
}
