//! One test per defect found by trying the tool as a new user would (issue #12), each
//! named after what went wrong, as ripgrep's `tests/regression.rs` does.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::fixtures::{Fixture, command, events, snapmetrics, stderr, users};

/// Exit code 2 and one line on stderr that contains every one of `words`.
fn assert_bad_input(output: &Output, words: &[&str]) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    for word in words {
        assert!(text.contains(word), "'{word}' not in: {text}");
    }
}

fn small_snapshot() -> Fixture {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[
            (1, "2026-01-05T08:00:00Z", None),
            (2, "2026-01-12T08:00:00Z", Some(true)),
        ]),
    );
    f.write(
        "user_events.parquet",
        &events(&[
            (1, 1, "login", "2026-01-06T09:00:00Z"),
            (2, 2, "login", "2026-01-13T09:00:00Z"),
        ]),
    );
    f
}

/// `report --out out` over `f` succeeds.
fn assert_reports(f: &Fixture, out: &Path) {
    let target = out.to_str().expect("utf8");
    let output = snapmetrics(&["report", "--store", &f.store(), "--out", target]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn report_out_never_replaces_a_folder_that_is_not_a_report() {
    let f = small_snapshot();
    let store = f.store();
    let work = tempfile::tempdir().expect("temp");
    let thesis = work.path().join("v");
    std::fs::create_dir(&thesis).expect("dir");
    std::fs::write(thesis.join("thesis.txt"), "important").expect("write");
    let out = thesis.to_str().expect("utf8");

    let output = snapmetrics(&["report", "--store", &store, "--out", out]);
    assert_bad_input(&output, &["not a previous snapmetrics report", out]);
    assert_eq!(names(&thesis), ["thesis.txt"]);

    // A previous report is replaced; one with a stranger file in it is not.
    let report = work.path().join("r");
    let report = report.to_str().expect("utf8");
    for _ in 0..2 {
        let output = snapmetrics(&["report", "--store", &store, "--out", report]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    std::fs::write(Path::new(report).join("notes.md"), "mine").expect("write");
    let output = snapmetrics(&["report", "--store", &store, "--out", report]);
    assert_bad_input(&output, &["notes.md"]);
    assert!(Path::new(report).join("notes.md").exists());
}

#[test]
fn report_out_never_overlaps_the_store() {
    let f = small_snapshot();
    let store = f.store();
    let inside = f.snapshot_dir().join("report");
    for out in [store.clone(), inside.display().to_string()] {
        let output = snapmetrics(&["report", "--store", &store, "--out", &out]);
        assert_bad_input(&output, &["overlaps the store"]);
    }
    assert!(f.snapshot_dir().join("users.parquet").exists());
    assert!(!inside.exists());
    // An ancestor of the store, given relatively, is refused too.
    let parent = f.dir.path().parent().expect("parent").to_path_buf();
    let output = command(&["report", "--store", &store, "--out", "."])
        .current_dir(&parent)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn report_out_creates_missing_parent_folders() {
    let f = small_snapshot();
    let work = tempfile::tempdir().expect("temp");
    let out = work.path().join("a/b/c/report");
    assert_reports(&f, &out);
    assert!(out.join("manifest.json").exists());
}

#[test]
fn a_killed_runs_staging_folders_are_cleaned_and_its_backup_restored() {
    let f = small_snapshot();
    let work = tempfile::tempdir().expect("temp");
    // A pid that cannot be running: above the kernel's pid_max.
    let dead = 4_194_305 + 17;
    let staging = work.path().join(format!(".report.tmp-{dead}"));
    std::fs::create_dir(&staging).expect("dir");
    std::fs::write(staging.join("cohort_retention.csv"), "half").expect("write");
    let out = work.path().join("report");
    assert_reports(&f, &out);
    assert_eq!(names(work.path()), ["report"]);

    // Killed between its two renames: the previous report sits in the backup.
    let backup = work.path().join(format!(".report.tmp-{dead}.old"));
    std::fs::rename(&out, &backup).expect("rename");
    let other = work.path().join("other");
    let output = command(&[
        "sql",
        "SELECT 1 AS one",
        "--store",
        &f.store(),
        "--format",
        "csv",
        "--output",
        other.to_str().expect("utf8"),
    ])
    .output()
    .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(backup.exists(), "another target's run must not touch it");
    assert_reports(&f, &out);
    assert_eq!(names(work.path()), ["other", "report"]);
}

#[test]
fn output_files_are_replaced_atomically() {
    let f = small_snapshot();
    let work = tempfile::tempdir().expect("temp");
    let path = work.path().join("out.csv");
    std::fs::write(&path, "previous\n").expect("write");
    let target = path.to_str().expect("utf8");
    // Fails while rows are being written: the first rows are fine, a later one is not.
    let failing = "SELECT CAST(CASE WHEN value < 100000 THEN '1' ELSE 'x' END AS INT) AS v \
                   FROM generate_series(1, 200000)";
    let store = f.store();
    for format in ["csv", "parquet"] {
        let output = snapmetrics(&[
            "sql", failing, "--store", &store, "--format", format, "--output", target,
        ]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "previous\n");
        assert_eq!(names(work.path()), ["out.csv"], "a staging file was left");
    }
    let output = snapmetrics(&[
        "metric",
        "mau",
        "--store",
        &f.store(),
        "--format",
        "csv",
        "--output",
        target,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        std::fs::read_to_string(&path)
            .expect("read")
            .starts_with("month,mau")
    );
}

/// A 256 KB tmpfs, unmounted on drop; `None` where mounting is not allowed (not root).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_keeps_the_previous_output_file_and_names_it() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let f = small_snapshot();
    let path = disk.0.path().join("out.csv");
    std::fs::write(&path, "previous\n").expect("write");
    let output = snapmetrics(&[
        "sql",
        "SELECT value FROM generate_series(1, 200000)",
        "--store",
        &f.store(),
        "--format",
        "csv",
        "--output",
        path.to_str().expect("utf8"),
    ]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("out.csv") && text.contains("No space left"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "previous\n");
    assert_eq!(names(disk.0.path()), ["out.csv"], "a staging file was left");
}

#[test]
fn a_closed_pipe_exits_0_quietly_in_every_format() {
    let f = small_snapshot();
    for format in ["csv", "json", "table"] {
        let mut child = command(&[
            "sql",
            "SELECT value FROM generate_series(1, 2000000)",
            "--store",
            &f.store(),
            "--format",
            format,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 16];
        stdout.read_exact(&mut first).expect("some output");
        drop(stdout);
        let output = child.wait_with_output().expect("waits");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{format}: {}",
            stderr(&output)
        );
        assert!(output.stderr.is_empty(), "{format}: {}", stderr(&output));
    }
}

#[test]
fn a_full_disk_is_an_io_failure_not_bad_input() {
    let f = small_snapshot();
    let full = std::fs::File::create("/dev/full").expect("/dev/full");
    let output = command(&[
        "sql",
        "SELECT value FROM generate_series(1, 100000)",
        "--store",
        &f.store(),
        "--format",
        "csv",
    ])
    .stdout(full)
    .output()
    .expect("runs");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("No space left"), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
}

#[test]
fn syntax_errors_and_several_statements_are_bad_input() {
    let f = small_snapshot();
    let store = f.store();
    for query in [
        "SELEC 1",
        "SELECT 1; SELECT 2",
        "SELECT nope FROM users",
        "SELECT * FROM no_such_table",
    ] {
        let output = snapmetrics(&["sql", query, "--store", &store]);
        assert_bad_input(&output, &["snapmetrics: "]);
    }
}

#[test]
fn sql_results_stream_and_a_table_is_bounded_by_the_memory_limit() {
    let f = small_snapshot();
    let store = f.store();
    let many = "SELECT value, value * 2 AS twice FROM generate_series(1, 3000000)";
    let output = command(&[
        "sql",
        many,
        "--store",
        &store,
        "--format",
        "csv",
        "--memory-limit",
        "32MB",
    ])
    .stdout(Stdio::null())
    .output()
    .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = command(&[
        "sql",
        many,
        "--store",
        &store,
        "--format",
        "table",
        "--memory-limit",
        "32MB",
    ])
    .stdout(Stdio::null())
    .output()
    .expect("runs");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("--format csv"), "{text}");
}

fn csv_of(store: &str, query: &str) -> String {
    let output = snapmetrics(&["sql", query, "--store", store, "--format", "csv"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{query}: {}",
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn users_clean_is_active_is_true_where_the_export_has_no_such_column() {
    let f = small_snapshot();
    let old_export = users(&[(1, "2026-01-05T08:00:00Z", None)]);
    let without = old_export.project(&[0, 1, 2, 3, 4, 5]).expect("project");
    f.write("users.parquet", &without);
    let store = f.store();
    assert_eq!(
        csv_of(
            &store,
            "SELECT count(*) AS n FROM users_clean WHERE is_active"
        ),
        "n\n1\n"
    );
    // And where the column is there but NULL.
    f.write("users.parquet", &old_export);
    assert_eq!(
        csv_of(&store, "SELECT is_active FROM users_clean"),
        "is_active\ntrue\n"
    );
}

#[test]
fn one_hostile_row_is_excluded_and_counted_not_built_into_a_calendar() {
    use crate::fixtures::onboarding;
    let f = small_snapshot();
    f.write(
        "users.parquet",
        &users(&[
            (1, "2026-01-05T08:00:00Z", None),
            (2, "0001-01-01T00:00:00Z", None),
        ]),
    );
    f.write(
        "onboarding_responses.parquet",
        &onboarding(&[
            (1, 1, "2026-01-05T09:00:00Z", 2_000_000_000, 3, None),
            (2, 1, "2026-01-05T09:00:00Z", 5, 3, None),
        ]),
    );
    let work = tempfile::tempdir().expect("temp");
    let out = work.path().join("report");
    let output = snapmetrics(&[
        "report",
        "--store",
        &f.store(),
        "--out",
        out.to_str().expect("utf8"),
        "--memory-limit",
        "256MB",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let quality = std::fs::read_to_string(out.join("data_quality.csv")).expect("read");
    assert!(quality.contains("users,before_epoch,1"), "{quality}");
    assert!(
        quality.contains("onboarding_responses,total_steps_out_of_range,1"),
        "{quality}"
    );
    let weeks = std::fs::read_to_string(out.join("cohort_retention.csv")).expect("read");
    assert!(
        weeks.lines().count() < 100,
        "{} rows",
        weeks.lines().count()
    );
    let steps = std::fs::read_to_string(out.join("onboarding_dropoff.csv")).expect("read");
    assert!(
        steps.lines().count() < 100,
        "{} rows",
        steps.lines().count()
    );
}

#[test]
fn an_as_of_in_the_future_is_a_clear_error() {
    let f = small_snapshot();
    f.write_bytes(
        "_manifest.json",
        br#"{"exported_at": "9999-12-31T00:00:00Z"}"#,
    );
    let output = snapmetrics(&["metric", "mau", "--store", &f.store()]);
    assert_bad_input(&output, &["9999-12-31", "in the future", "exported_at"]);

    let g = Fixture::new("9999-12-31");
    g.with_empty_tables();
    let output = snapmetrics(&["metric", "mau", "--store", &g.store()]);
    assert_bad_input(&output, &["9999-12-31", "snapshot id"]);
}

#[test]
fn an_integer_too_wide_for_its_column_names_table_file_and_column() {
    use crate::fixtures::onboarding;
    use snapmetrics::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use snapmetrics::datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let f = small_snapshot();
    let narrow = onboarding(&[(1, 1, "2026-01-05T09:00:00Z", 5, 3, None)]);
    let mut fields: Vec<Field> = narrow
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[3] = Field::new("total_steps", DataType::Int64, true);
    let mut columns: Vec<ArrayRef> = narrow.columns().to_vec();
    columns[3] = Arc::new(Int64Array::from(vec![3_000_000_000]));
    let wide = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    f.write("onboarding_responses.parquet", &wide);
    let output = snapmetrics(&["metric", "activation", "--store", &f.store()]);
    assert_bad_input(
        &output,
        &[
            "onboarding_responses",
            "onboarding_responses.parquet",
            "total_steps",
            "3000000000",
        ],
    );
}

#[test]
fn deep_generated_sql_plans_instead_of_overflowing_the_stack() {
    let f = small_snapshot();
    let store = f.store();
    let terms = |n: usize, term: &str, sep: &str| vec![term; n].join(sep);
    for (query, expected) in [
        (
            format!("SELECT {} AS n", terms(1000, "1", " + ")),
            "n\n1000\n".to_string(),
        ),
        (
            format!(
                "SELECT count(*) AS n FROM users WHERE {}",
                terms(1000, "id = 1", " OR ")
            ),
            "n\n1\n".to_string(),
        ),
        (
            format!(
                "SELECT count(*) AS n FROM ({})",
                terms(1000, "SELECT 1 AS one", " UNION ALL ")
            ),
            "n\n1000\n".to_string(),
        ),
    ] {
        assert_eq!(csv_of(&store, &query), expected);
    }
}

#[test]
fn filter_dates_at_the_ends_of_the_calendar_answer_or_are_refused() {
    let f = small_snapshot();
    let store = f.store();
    for (from, to) in [("0001-01-01", "2026-12-31"), ("9999-12-31", "9999-12-31")] {
        for name in ["mau", "cohort_retention", "activation"] {
            let output = snapmetrics(&[
                "metric", name, "--store", &store, "--from", from, "--to", to,
            ]);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{name} {from}: {}",
                stderr(&output)
            );
        }
    }
    let output = snapmetrics(&["metric", "mau", "--store", &store, "--from", "+10000-01-01"]);
    assert_bad_input(&output, &["--from", "outside"]);
}

#[test]
fn a_malformed_s3_endpoint_is_bad_input_not_a_panic() {
    for endpoint in [
        "127.0.0.1:15000",
        "",
        "http://",
        "http://127.0.0.1:99999",
        "localhost:9000",
    ] {
        let output = command(&[
            "snapshots",
            "--store",
            "s3://bucket/prefix",
            "--s3-endpoint",
            endpoint,
        ])
        .env("AWS_ACCESS_KEY_ID", "key")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .output()
        .expect("runs");
        assert_bad_input(&output, &["--s3-endpoint", "http://HOST:PORT"]);
    }
    let output = command(&["snapshots", "--store", "s3://bucket/prefix"])
        .env("AWS_ACCESS_KEY_ID", "key")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_ENDPOINT_URL", "not a url")
        .output()
        .expect("runs");
    assert_bad_input(&output, &["AWS_ENDPOINT_URL"]);
}

#[test]
fn odd_snapshot_ids_are_data_and_never_break_the_store() {
    let f = small_snapshot();
    let store = f.dir.path();
    let source = f.snapshot_dir();
    let copy = |id: &str| {
        let target = store.join(id);
        std::fs::create_dir(&target).expect("dir");
        for name in [
            "users.parquet",
            "user_events.parquet",
            "onboarding_responses.parquet",
            "transactions.parquet",
            "_SUCCESS",
        ] {
            std::fs::copy(source.join(name), target.join(name)).expect("copy");
        }
    };
    for id in [
        "2026-01-31-ü",
        "2026-01-31-a%b",
        "2026-01-31-back\\slash",
        "2026-01-31-x#y",
    ] {
        copy(id);
        let output = snapmetrics(&[
            "sql",
            "SELECT count(*) AS n FROM users",
            "--store",
            &f.store(),
            "--snapshot",
            id,
            "--format",
            "csv",
        ]);
        assert_eq!(output.status.code(), Some(0), "{id}: {}", stderr(&output));
        assert_eq!(String::from_utf8_lossy(&output.stdout), "n\n2\n", "{id}");
    }
    // Names no object store can hold: greater than every id, complete, and ignored.
    for id in ["2099-bad\nname", "2099-esc\u{1b}[31mred"] {
        copy(id);
    }
    let output = snapmetrics(&["snapshots", "--store", &f.store(), "--format", "csv"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listed = String::from_utf8_lossy(&output.stdout).to_string();
    for id in ["2026-01-31-ü", "2026-01-31-a%b", "2026-01-31-back\\slash"] {
        assert!(listed.contains(&format!("{id},true")), "{listed}");
    }
    let warned = stderr(&output);
    assert!(
        warned.contains("2099-bad\\nname") && warned.contains("2099-esc\\u{1b}"),
        "{warned}"
    );
    assert!(
        !warned.contains('\u{1b}') && !listed.contains('\u{1b}'),
        "raw escape printed"
    );

    let output = snapmetrics(&[
        "sql",
        "SELECT 1 AS one",
        "--store",
        &f.store(),
        "--format",
        "csv",
    ]);
    assert_eq!(output.status.code(), Some(0), "latest: {}", stderr(&output));
    let output = snapmetrics(&[
        "sql",
        "SELECT 1",
        "--store",
        &f.store(),
        "--snapshot",
        "no\u{1b}[2Jsuch",
    ]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        !text.contains('\u{1b}') && text.contains("no\\u{1b}[2Jsuch"),
        "{text}"
    );
}

#[test]
fn usage_errors_are_one_line_and_exit_2_but_help_prints_in_full() {
    for (args, word) in [
        (vec!["report"], "--out"),
        (vec!["no-such-command"], "no-such-command"),
        (vec!["sql", "SELECT 1", "--tz", "Mars/Base"], "Mars/Base"),
        (vec!["sql", "SELECT 1", "--memory-limit", "lots"], "lots"),
    ] {
        assert_bad_input(&snapmetrics(&args), &[word]);
    }
    let help = snapmetrics(&["report", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--out"));
}
