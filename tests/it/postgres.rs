//! `snapmetrics export` against a real PostgreSQL server that the test starts itself
//! (`initdb` + `pg_ctl` on a loopback port, in a temporary folder, as the `postgres` user
//! when the tests run as root). Without a server the tests say so loudly and pass, except
//! where `SNAPMETRICS_REQUIRE_POSTGRES` is set (`.ci/run` sets it): there they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use snapmetrics::datafusion;
use snapmetrics::export::{Database, ExportOptions, Progress};
use snapmetrics::source::store::Store;

use crate::fixtures::{all_files, command, is_root, stderr};

const PASSWORD: &str = "pg-test-secret-7d1f";
const SENTINEL: &str = "SENTINEL-password-hash-5f0e9c";
const ID: &str = "2026-06-30";

/// A PostgreSQL server of the test's own; stopped when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Postgres {
    /// Starts a server, or explains loudly why it cannot (and fails where one is required).
    pub fn start(test: &str) -> Option<Postgres> {
        Postgres::start_with(test, false)
    }

    /// A server that offers TLS (a self-signed certificate) and lets every role but the
    /// admin connect only over it.
    pub fn start_tls(test: &str) -> Option<Postgres> {
        Postgres::start_with(test, true)
    }

    fn start_with(test: &str, tls: bool) -> Option<Postgres> {
        match Postgres::try_start(tls) {
            Ok(server) => Some(server),
            Err(why) => {
                assert!(
                    std::env::var_os("SNAPMETRICS_REQUIRE_POSTGRES").is_none(),
                    "{test}: a PostgreSQL server is required here but could not start: {why}"
                );
                eprintln!("SKIPPED {test}: no PostgreSQL server could be started: {why}");
                None
            }
        }
    }

    fn try_start(tls: bool) -> Result<Postgres, String> {
        let bin = bin_dir().ok_or("no initdb (install Debian's postgresql package)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        run(Command::new("chmod").arg("755").arg(dir.path()))?;
        let data = dir.path().join("data");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, PASSWORD).map_err(|e| e.to_string())?;
        run(Command::new("chmod").arg("644").arg(&password_file))?;
        if is_root() {
            run(Command::new("install")
                .args(["-d", "-o", "postgres", "-m", "700"])
                .arg(&data))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        run(as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "snap",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", password_file.display())))?;
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c full_page_writes=off",
            data.display()
        );
        if tls {
            run(as_postgres(Path::new("openssl"))
                .args(["req", "-new", "-x509", "-days", "2", "-nodes", "-subj"])
                .args(["/CN=localhost", "-keyout"])
                .arg(data.join("server.key"))
                .arg("-out")
                .arg(data.join("server.crt")))?;
            run(as_postgres(Path::new("chmod"))
                .arg("600")
                .arg(data.join("server.key")))?;
            // No `hostnossl` line but the admin's: any other role without TLS is refused.
            let hba = data.join("pg_hba.conf");
            std::fs::write(
                &hba,
                "local all all trust\n\
                 hostnossl all snap 127.0.0.1/32 scram-sha-256\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256\n",
            )
            .map_err(|e| format!("{}: {e}", hba.display()))?;
            run(Command::new("chmod").arg("644").arg(&hba))?;
            options.push_str(" -c ssl=on");
        }
        run(as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-w", "-t", "60", "-l"])
            .arg(data.join("server.log"))
            .args(["-o", &options, "start"]))?;
        Ok(Postgres { dir, bin, port })
    }

    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn admin_url(&self, db: &str) -> String {
        self.url("snap", PASSWORD, db)
    }

    pub async fn client(&self, db: &str) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.admin_url(db), tokio_postgres::NoTls)
                .await
                .expect("connect as snap");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// `program`, run as the `postgres` user when this is root (PostgreSQL refuses root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?}: {}", stderr(&output).trim()))
    }
}

/// The PostgreSQL type a generated column is loaded as.
fn pg_type(table: &str, column: &str, data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Int64 => "bigint",
        DataType::Int32 => "integer",
        DataType::Boolean => "boolean",
        DataType::Date32 => "date",
        DataType::Timestamp(_, _) => "timestamptz",
        DataType::Decimal128(_, _) => "numeric(18,2)",
        // JSON text kept as written: json, unlike jsonb, keeps it byte for byte.
        _ if (table, column) == ("user_events", "metadata")
            || (table, column) == ("onboarding_responses", "responses") =>
        {
            "json"
        }
        _ => "text",
    }
}

/// Every Parquet file below `dir`.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn read_batches(file: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).expect("open"))
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

/// Creates database `db` and loads the generated snapshot `snapshot` into it, with a
/// `password_hash` column holding [`SENTINEL`] in every row.
async fn load(server: &Postgres, db: &str, snapshot: &Path) {
    use futures::SinkExt;
    server
        .client("postgres")
        .await
        .execute(&format!("CREATE DATABASE {db}"), &[])
        .await
        .expect("create database");
    let client = server.client(db).await;
    let mut tables: Vec<PathBuf> = std::fs::read_dir(snapshot)
        .expect("snapshot")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    tables.sort();
    for dir in tables {
        let table = dir.file_name().expect("name").to_string_lossy().to_string();
        let files = parquet_files(&dir);
        let schema = read_batches(&files[0])[0].schema();
        let mut columns: Vec<String> = schema
            .fields()
            .iter()
            .filter(|f| f.name() != "password_hash")
            .map(|f| {
                format!(
                    "\"{}\" {}",
                    f.name(),
                    pg_type(&table, f.name(), f.data_type())
                )
            })
            .collect();
        if table == "users" {
            columns.push(format!("password_hash text NOT NULL DEFAULT '{SENTINEL}'"));
        }
        client
            .execute(
                &format!("CREATE TABLE {table} ({})", columns.join(", ")),
                &[],
            )
            .await
            .expect("create table");
        for file in files {
            for batch in read_batches(&file) {
                let keep: Vec<usize> = (0..batch.num_columns())
                    .filter(|&i| batch.schema().field(i).name() != "password_hash")
                    .collect();
                let batch = batch.project(&keep).expect("project");
                let names: Vec<String> = batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("\"{}\"", f.name()))
                    .collect();
                let mut csv = Vec::new();
                {
                    let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                        .with_header(false)
                        .build(&mut csv);
                    writer.write(&batch).expect("csv");
                }
                let sink = client
                    .copy_in(&format!(
                        "COPY {table} ({}) FROM STDIN (FORMAT csv)",
                        names.join(", ")
                    ))
                    .await
                    .expect("copy in");
                futures::pin_mut!(sink);
                sink.send(bytes::Bytes::from(csv)).await.expect("send");
                sink.close().await.expect("copy done");
            }
        }
    }
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// `snapmetrics export --source URL --out STORE --id ID [extra…]`, run to its end.
fn export(url: &str, store: &Path, id: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["export", "--source", url, "--out", text(store), "--id", id];
    args.extend_from_slice(extra);
    command(&args).output().expect("export")
}

/// Exports `url` as snapshot `id` of `store` and requires the refusal a caller can fix:
/// exit 2, one line saying `expected`, no password, and no snapshot left behind.
fn assert_refused(url: &str, store: &Path, id: &str, expected: &str) {
    let output = export(url, store, id, &[]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{url}: {message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(
        message.contains(expected),
        "{url}: expected '{expected}' in: {message}"
    );
    for secret in [PASSWORD, "wrong-password-91c2"] {
        assert!(
            !message.contains(secret),
            "the password was printed: {message}"
        );
    }
    assert!(
        !store.join(id).exists(),
        "{url} left {}",
        store.join(id).display()
    );
}

/// Whether any string value of any Parquet file below `dir` contains `needle`.
fn any_value_contains(dir: &Path, needle: &str) -> bool {
    parquet_files(dir).iter().any(|file| {
        read_batches(file).iter().any(|batch| {
            batch.columns().iter().any(|column| {
                column.data_type() == &DataType::Utf8
                    && column
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .any(|v| v.contains(needle))
            })
        })
    })
}

fn column_names(dir: &Path, table: &str) -> Vec<String> {
    let files = parquet_files(&dir.join(table));
    read_batches(&files[0])[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[test]
fn an_exported_database_gives_the_same_report() {
    let Some(server) = Postgres::start("an_exported_database_gives_the_same_report") else {
        return;
    };
    let work = tempfile::tempdir().expect("work");
    let original = work.path().join("original");
    snapmetrics::generate::generate(
        &original.join(ID),
        &snapmetrics::generate::GenerateOptions::new(400, 3),
        &|_| {},
    )
    .expect("generate");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(load(&server, "app", &original.join(ID)));

    let exported = work.path().join("exported");
    let url = server.admin_url("app");
    let output = export(&url, &exported, ID, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(!said.contains(PASSWORD), "the password was printed: {said}");
    // Not a terminal and no --progress: only the summary, a line per table and the total.
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 7, "{said}");
    assert!(lines[..6].iter().all(|l| l.contains(" rows in ")), "{said}");
    assert!(
        lines[6].starts_with("exported snapshot 2026-06-30 "),
        "{said}"
    );
    let snapshot = exported.join(ID);
    assert!(snapshot.join("_SUCCESS").exists());

    // The secret is in no file, in no form.
    for (name, bytes) in all_files(&snapshot) {
        assert!(
            !bytes
                .windows(SENTINEL.len())
                .any(|w| w == SENTINEL.as_bytes()),
            "{name} holds the password hash"
        );
    }
    assert!(
        !any_value_contains(&snapshot, SENTINEL),
        "a value holds the password hash"
    );
    let users = column_names(&snapshot, "users");
    assert!(
        !users.iter().any(|c| c == "password_hash" || c == "email"),
        "{users:?}"
    );
    assert!(
        !snapshot.join("l0_pii_users").exists(),
        "PII exported without --include-pii"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snapshot.join("_manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["include_pii"], false);

    // The same as_of on both sides, then the same report, file for file.
    let original_manifest = original.join(ID).join("_manifest.json");
    let mut theirs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&original_manifest).expect("manifest"))
            .expect("json");
    theirs["exported_at"] = manifest["exported_at"].clone();
    std::fs::write(&original_manifest, theirs.to_string()).expect("write manifest");
    let report = |store: &Path, out: &Path| {
        let output = command(&["report", "--store", text(store), "--out", text(out)])
            .output()
            .expect("report");
        assert!(output.status.success(), "{}", stderr(&output));
        all_files(out)
            .into_iter()
            .filter(|(name, _)| name.ends_with(".csv"))
            .collect::<Vec<_>>()
    };
    let a = report(&original, &work.path().join("report-original"));
    let b = report(&exported, &work.path().join("report-exported"));
    assert_eq!(a.len(), b.len());
    assert!(a.len() >= 11, "{} report files", a.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{name} differs between the generated and the exported snapshot"
        );
    }

    // With --include-pii: the PII tables and columns, and the manifest says so.
    let output = export(
        &url,
        &exported,
        "with-pii",
        &["--include-pii", "--progress"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // --progress on a log: plain lines as each table is read, then the summary.
    let said = stderr(&output);
    let read = said.find("  user_events: ").expect("a progress line");
    let summary = said.find(" rows in ").expect("a summary line");
    assert!(read < summary, "{said}");
    assert!(
        said[read..]
            .lines()
            .next()
            .is_some_and(|l| l.contains(" rows read, ")),
        "{said}"
    );
    assert!(
        !said.contains('\u{1b}') && !said.contains('\r'),
        "terminal codes in a log: {said:?}"
    );
    let snapshot = exported.join("with-pii");
    assert!(
        column_names(&snapshot, "users")
            .iter()
            .any(|c| c == "email")
    );
    assert!(
        column_names(&snapshot, "l0_pii_users")
            .iter()
            .any(|c| c == "first_name")
    );
    assert!(
        !any_value_contains(&snapshot, SENTINEL),
        "a value holds the password hash"
    );

    // The same id again: refused, and the existing snapshot is left alone.
    let before = all_files(&exported.join(ID));
    let output = export(&url, &exported, ID, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("already has a snapshot"),
        "{}",
        stderr(&output)
    );
    assert!(all_files(&exported.join(ID)) == before);
}

/// Small tables the bad-input cases start from: everything a snapshot needs, one row each.
const MINIMAL: &str = "
    CREATE TABLE users (id bigint, email text, password_hash text, display_name text,
        login_attempts integer, created_at timestamptz, is_active boolean);
    CREATE TABLE user_events (id bigint, user_id bigint, event_type text,
        event_timestamp timestamptz, metadata jsonb);
    CREATE TABLE transactions (id bigint, user_id bigint, date date, description text,
        merchant text, amount numeric, cashflow text, account text, category text,
        label text, created_at timestamptz);
    CREATE TABLE onboarding_responses (id bigint, user_id bigint, started_at timestamptz,
        total_steps integer, last_step_completed integer, completed_at timestamptz,
        responses json, updated_at timestamp);
    INSERT INTO users VALUES (1, 'a@example.com', 'x', 'A', 0, '2026-01-05 10:00+00', true);
    INSERT INTO user_events VALUES (10, 1, 'login', '2026-01-06 10:00+00', '{\"k\": 1}');
    INSERT INTO transactions VALUES (20, 1, '2026-01-07', 'coffee', NULL, 3.5, 'out',
        'bank', NULL, NULL, '2026-01-07 09:00+00');
    INSERT INTO onboarding_responses VALUES (30, 1, '2026-01-05 10:01+00', 5, 5,
        '2026-01-05 10:09+00', NULL, '2026-01-05 10:09');
";

#[test]
fn bad_sources_are_one_line_errors_and_leave_no_snapshot() {
    let Some(server) = Postgres::start("bad_sources_are_one_line_errors_and_leave_no_snapshot")
    else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let setup = |db: &str, sql: &str| {
        runtime.block_on(async {
            server
                .client("postgres")
                .await
                .execute(&format!("CREATE DATABASE {db}"), &[])
                .await
                .expect("create");
            server
                .client(db)
                .await
                .batch_execute(sql)
                .await
                .expect("setup");
        })
    };
    // What other exporters' databases have: int4 ids, a naive timestamp, extra columns
    // with odd names and types that have no canonical mapping, columns out of order.
    setup(
        "good",
        &MINIMAL
            .replace(
                "CREATE TABLE users (id bigint,",
                "CREATE TABLE users (\"Plan \"\"tier\"\"\" int4[], id integer,",
            )
            .replace(
                "INSERT INTO users VALUES (1,",
                "INSERT INTO users VALUES ('{1,2}', 1,",
            )
            .replace(
                "CREATE TABLE user_events (id bigint,",
                "CREATE TABLE user_events (id bigint, month text,",
            )
            .replace(
                "INSERT INTO user_events VALUES (10,",
                "INSERT INTO user_events VALUES (10, '2026-01',",
            ),
    );
    setup("missing", "CREATE TABLE users (id bigint);");
    setup(
        "mistyped",
        &MINIMAL.replace(
            "login_attempts integer, created_at timestamptz",
            "login_attempts integer, created_at text",
        ),
    );
    setup(
        "infinite",
        &format!("{MINIMAL} INSERT INTO user_events VALUES (11, 1, 'login', 'infinity', NULL);"),
    );
    setup(
        "nan",
        &format!(
            "{MINIMAL} INSERT INTO transactions VALUES (21, 1, '2026-01-07', 'x', NULL, 'NaN', 'out', NULL, NULL, NULL, now());"
        ),
    );
    setup(
        "huge",
        &format!(
            "{MINIMAL} INSERT INTO transactions VALUES (22, 1, '2026-01-07', 'x', NULL, 1e20, 'out', NULL, NULL, NULL, now());"
        ),
    );
    setup(
        "restricted",
        &format!(
            "{MINIMAL} CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}';
             GRANT SELECT ON users, user_events, onboarding_responses TO reader;"
        ),
    );
    let out = tempfile::tempdir().expect("out");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let cases: Vec<(String, &str)> = vec![
        (
            format!("postgres://snap:{PASSWORD}@127.0.0.1:{closed}/good"),
            "Connection refused",
        ),
        (
            server.url("snap", "wrong-password-91c2", "good"),
            "password authentication failed",
        ),
        (server.admin_url("nope"), "database \"nope\" does not exist"),
        (server.admin_url("missing"), "has no table 'user_events'"),
        (
            server.admin_url("mistyped"),
            "table 'users' column 'created_at' is of type text",
        ),
        (
            server.admin_url("infinite"),
            "table 'user_events', column 'event_timestamp', row id 11: timestamp 'infinity'",
        ),
        (
            server.admin_url("nan"),
            "table 'transactions', column 'amount', row id 21: amount NaN",
        ),
        (
            server.admin_url("huge"),
            "table 'transactions': numeric field overflow",
        ),
        (
            server.url("reader", PASSWORD, "restricted"),
            "permission denied for table transactions",
        ),
        (
            format!("{}?sslmode=require", server.admin_url("good")),
            "server does not support TLS",
        ),
        (
            format!("{}?sslmode=verify-full", server.admin_url("good")),
            "use sslmode=require",
        ),
    ];
    for (n, (url, expected)) in cases.iter().enumerate() {
        assert_refused(url, out.path(), &format!("case-{n}"), expected);
    }
    let output = export(
        &server.admin_url("good"),
        out.path(),
        "jobs",
        &["--jobs", "0"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--jobs"), "{}", stderr(&output));
    assert!(
        !out.path().join("jobs").exists(),
        "--jobs 0 left a snapshot"
    );
    let output = export(&server.admin_url("good"), out.path(), "ok", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let snapshot = out.path().join("ok");
    assert_eq!(
        column_names(&snapshot, "users"),
        [
            "id",
            "display_name",
            "login_attempts",
            "created_at",
            "is_active",
            "Plan \"tier\""
        ]
    );
    let users = read_batches(&parquet_files(&snapshot.join("users"))[0]);
    let plan = users[0].column(5).as_string::<i32>().value(0).to_string();
    assert_eq!(plan, "{1,2}");
    assert_eq!(users[0].schema().field(0).data_type(), &DataType::Int64);
    // A column named like a partition key is an ordinary column, and the snapshot reads.
    assert!(column_names(&snapshot, "user_events").contains(&"month".to_string()));
    let reports = tempfile::tempdir().expect("reports");
    let output = command(&[
        "report",
        "--store",
        text(out.path()),
        "--snapshot",
        "ok",
        "--out",
    ])
    .arg(reports.path().join("ok"))
    .output()
    .expect("report");
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn the_export_speaks_tls_when_the_server_offers_it_and_insists_when_told() {
    let Some(server) = Postgres::start_tls("the_export_speaks_tls") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let admin = server.client("postgres").await;
        admin
            .execute("CREATE DATABASE app", &[])
            .await
            .expect("create");
        let app = server.client("app").await;
        app.batch_execute(&format!(
            "{MINIMAL} CREATE ROLE secure LOGIN PASSWORD '{PASSWORD}';
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO secure;"
        ))
        .await
        .expect("setup");
    });
    // The server lets `secure` in only over TLS (pg_hba.conf: hostssl).
    let url = server.url("secure", PASSWORD, "app");
    let out = tempfile::tempdir().expect("out");
    for (id, url) in [
        ("required", format!("{url}?sslmode=require")),
        ("preferred", url.clone()),
    ] {
        let output = export(&url, out.path(), id, &[]);
        assert!(output.status.success(), "{url}: {}", stderr(&output));
        assert!(out.path().join(id).join("_SUCCESS").exists(), "{url}");
    }
    assert_refused(
        &format!("{url}?sslmode=disable"),
        out.path(),
        "plain",
        "no encryption",
    );
}

#[test]
fn the_export_reads_one_snapshot_and_survives_no_lost_connection() {
    let Some(server) = Postgres::start("the_export_reads_one_snapshot") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        server
            .client("postgres")
            .await
            .execute("CREATE DATABASE app", &[])
            .await
            .expect("create");
        server
            .client("app")
            .await
            .batch_execute(MINIMAL)
            .await
            .expect("setup");
    });
    let out = tempfile::tempdir().expect("out");
    let store = Store::open(text(out.path())).expect("store");
    let database = Database::parse(&server.admin_url("app")).expect("database");
    let options = |id: &str, jobs: usize| ExportOptions {
        id: Some(id.to_string()),
        jobs,
        ..ExportOptions::default()
    };

    // Writes committed by another connection once the export has begun are not in it:
    // with one reader, and with a reader per table, where the later readers import the
    // snapshot after the write.
    let other = Arc::new(runtime.block_on(server.client("app")));
    let run = |id: &'static str, jobs: usize, hook: Box<dyn Fn(&Progress) + Send + Sync>| {
        let (database, store) = (database.clone(), store.clone());
        // On a worker thread, where the hook may block in place.
        let task = runtime.spawn(async move {
            snapmetrics::export::export(&database, &store, &options(id, jobs), &*hook).await
        });
        runtime.block_on(task).expect("export task")
    };
    for (before, (id, jobs)) in [("one-reader", 1), ("four-readers", 6)]
        .into_iter()
        .enumerate()
    {
        let writer = other.clone();
        let wrote = std::sync::atomic::AtomicBool::new(false);
        let during = move |_: &Progress| {
            if wrote.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let writer = writer.clone();
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async move {
                    writer
                        .batch_execute(
                            "INSERT INTO users VALUES (2, 'b@example.com', 'x', 'B', 0, now(), true);
                             INSERT INTO onboarding_responses VALUES (31, 1, now(), 5, 1, NULL, NULL, now());
                             INSERT INTO transactions VALUES (21, 1, '2026-01-08', 'tea', NULL, 2, 'out', 'bank', NULL, NULL, now());
                             INSERT INTO user_events VALUES (12, 1, 'login', now(), NULL);",
                        )
                        .await
                        .expect("concurrent insert");
                })
            });
        };
        let summary = run(id, jobs, Box::new(during)).expect("export");
        let tables: Vec<(&str, u64)> = summary.tables.iter().map(|t| (t.table, t.rows)).collect();
        let had = 1 + before as u64;
        assert_eq!(
            tables,
            [
                ("users", had),
                ("user_events", had),
                ("transactions", had),
                ("onboarding_responses", had)
            ],
            "{jobs} readers: a later write was exported, or the tables are out of order"
        );
    }

    // The server ends the connection mid-export: an error (exit 1 kind), nothing left.
    // Enough events that their reader (the largest table goes first) is still reading
    // when the other reader has done the users and the connections are ended; with a
    // few rows everywhere both could finish before the terminate lands.
    runtime
        .block_on(other.batch_execute(
            "INSERT INTO user_events SELECT g, 1, 'login', '2026-01-06 10:00+00', NULL
             FROM generate_series(100, 500099) AS g;
             ANALYZE user_events;",
        ))
        .expect("many events");
    let killer = other.clone();
    let kill = move |p: &Progress| {
        if p.done && p.table == "users" {
            let killer = killer.clone();
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async move {
                    killer
                        .execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                             WHERE datname = 'app' AND pid <> pg_backend_pid()",
                            &[],
                        )
                        .await
                        .expect("terminate");
                })
            });
        }
    };
    let err = run("killed", 2, Box::new(kill)).expect_err("the connection was ended");
    assert_eq!(err.kind(), snapmetrics::ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("connection was lost"), "{err}");
    assert!(
        !out.path().join("killed").exists(),
        "a killed export left files"
    );
    let _ = server.port();
}
