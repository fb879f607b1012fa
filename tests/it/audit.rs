//! `verify` and `diff` on real report folders: every case is a file changed on disk, and
//! the binary's output and exit code are what is checked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use snapmetrics::datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use snapmetrics::datafusion::arrow::compute::cast;
use snapmetrics::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use snapmetrics::engine::session::{Session, SessionOptions};
use snapmetrics::generate::{GenerateOptions, generate};
use snapmetrics::source::snapshot::Snapshot;
use snapmetrics::source::store::Store;

use crate::fixtures::{copy_dir, csv, snapmetrics, stderr, write_parquet};

const ID: &str = "2026-06-30";

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// A store holding one generated snapshot.
fn generated_store(root: &Path) -> PathBuf {
    let store = root.join("store");
    generate(&store.join(ID), &GenerateOptions::new(150, 3), &|_| {}).expect("generates");
    store
}

/// Asserts `verify` exits with `code` and prints a line containing each of `lines`.
fn assert_verify(args: &[&str], code: i32, lines: &[&str]) {
    let output = snapmetrics(args);
    let printed = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "verify {args:?}\nstdout:\n{printed}\nstderr: {}",
        stderr(&output)
    );
    for line in lines {
        assert!(
            printed.lines().any(|l| l.contains(line)),
            "no line with '{line}' in:\n{printed}"
        );
    }
}

/// Asserts the command failed with exit 2, one line on stderr containing `message` and
/// nothing on stdout.
fn assert_bad_input(args: &[&str], message: &str) {
    let output = snapmetrics(args);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {error}");
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(error.contains(message), "{error}");
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
}

#[test]
fn a_report_verifies_and_every_change_is_named() {
    let work = tempfile::tempdir().expect("temp");
    let store = generated_store(work.path());
    let report = work.path().join("report");
    // Every option that shapes the numbers, and every format: the recomputation must use
    // them all to be byte-identical.
    let made = snapmetrics(&[
        "report",
        "--store",
        text(&store),
        "--out",
        text(&report),
        "--tz",
        "Europe/Berlin",
        "--from",
        "2025-09-01",
        "--to",
        "2026-05-31",
        "--active-only",
        "--event-types",
        "login,feedback",
        "--bank",
        "Monzo",
        "--format",
        "csv,parquet,json,html",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["settings"]["tz"], "Europe/Berlin");
    assert_eq!(manifest["filters"]["bank"], "Monzo");
    assert_eq!(manifest["filters"]["event_types"][1], "feedback");

    let verify = |report: &Path| -> Vec<String> {
        ["verify", text(report), "--store", text(&store)]
            .map(str::to_string)
            .to_vec()
    };
    let args = verify(&report);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_verify(
        &args,
        0,
        &[
            "ok   outputs: 34 files match",
            "ok   inputs: ",
            "ok   definitions: ",
            "ok   recomputation: 34 files recomputed byte for byte",
        ],
    );
    assert_eq!(stdout(&snapmetrics(&args)).lines().count(), 4);

    // One byte of one output.
    let changed = work.path().join("changed");
    copy_dir(&report, &changed);
    let file = changed.join("vanity_monthly.csv");
    let mut bytes = std::fs::read(&file).expect("read");
    let last_digit = bytes.iter().rposition(u8::is_ascii_digit).expect("a digit");
    bytes[last_digit] = if bytes[last_digit] == b'9' {
        b'8'
    } else {
        bytes[last_digit] + 1
    };
    std::fs::write(&file, bytes).expect("write");
    std::fs::write(changed.join("notes.txt"), "added by hand").expect("write");
    let args = verify(&changed);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_verify(
        &args,
        1,
        &[
            "FAIL outputs: vanity_monthly.csv: SHA-256",
            "FAIL outputs: notes.txt: in the report folder, not in the manifest",
            "ok   inputs: ",
            "FAIL recomputation: vanity_monthly.csv: differs at line",
        ],
    );

    // A definition that changed since the report.
    let redefined = work.path().join("redefined");
    copy_dir(&report, &redefined);
    let mut edited = manifest.clone();
    for query in edited["queries"].as_array_mut().expect("queries") {
        if query["name"] == "lifecycle_weekly" {
            query["sha256"] = serde_json::json!("0".repeat(64));
        }
    }
    std::fs::write(
        redefined.join("manifest.json"),
        serde_json::to_vec_pretty(&edited).expect("json"),
    )
    .expect("write");
    let mut args = verify(&redefined);
    args.push("--no-recompute".to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_verify(
        &args,
        1,
        &[
            "ok   outputs: ",
            "FAIL definitions: query 'lifecycle_weekly' changed",
        ],
    );
    assert!(!stdout(&snapmetrics(&args)).contains("recomputation"));

    // A manifest that cannot be read, or is not there: exit 2, one line.
    let broken = work.path().join("broken");
    copy_dir(&report, &broken);
    let whole = std::fs::read(broken.join("manifest.json")).expect("read");
    std::fs::write(broken.join("manifest.json"), &whole[..whole.len() / 2]).expect("write");
    let args = verify(&broken);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_bad_input(&args, "manifest.json is not a snapmetrics manifest");
    std::fs::remove_file(broken.join("manifest.json")).expect("rm");
    assert_bad_input(&args, "no manifest.json");
    let missing = work.path().join("missing");
    let args = verify(&missing);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_bad_input(&args, "no such folder");
    assert_bad_input(
        &["verify", text(&report), "--store", "/no/such/store"],
        "/no/such/store",
    );
}

#[test]
fn changed_inputs_are_named() {
    let work = tempfile::tempdir().expect("temp");
    let store = generated_store(work.path());
    let report = work.path().join("report");
    let made = snapmetrics(&["report", "--store", text(&store), "--out", text(&report)]);
    assert!(made.status.success(), "{}", stderr(&made));
    let copy = |name: &str| {
        let to = work.path().join(name);
        copy_dir(&store, &to);
        to
    };
    let in_snapshot = |store: &Path, file: &str| store.join(ID).join(file);

    // Rewritten with the same size: only the checksum can tell.
    let rewritten = copy("rewritten");
    let file = in_snapshot(&rewritten, "users/part-00000.parquet");
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).expect("write");
    assert_verify(
        &["verify", text(&report), "--store", text(&rewritten)],
        1,
        &[
            "FAIL inputs: users/part-00000.parquet: same size, different content",
            "FAIL recomputation: ",
        ],
    );

    let removed = copy("removed");
    std::fs::remove_file(in_snapshot(
        &removed,
        "user_events/month=2025-07/part-00000.parquet",
    ))
    .expect("rm");
    assert_verify(
        &[
            "verify",
            text(&report),
            "--store",
            text(&removed),
            "--no-recompute",
        ],
        1,
        &["FAIL inputs: user_events/month=2025-07/part-00000.parquet (user_events): removed"],
    );

    let added = copy("added");
    std::fs::copy(
        in_snapshot(&added, "users/part-00000.parquet"),
        in_snapshot(&added, "users/part-00001.parquet"),
    )
    .expect("copy");
    assert_verify(
        &["verify", text(&report), "--store", text(&added)],
        1,
        &[
            "FAIL inputs: users/part-00001.parquet (users): added since the report",
            "FAIL recomputation: data_quality.csv: differs at line",
        ],
    );
}

/// The nightly recipe: yesterday's report against today's, `--restated`. Today's
/// snapshot is yesterday's, a day later, plus one late login: user `u`, last active on
/// `last`, logs in on `d = last + 30`, when every period around it is long over. Exactly
/// the complete cells that login belongs to must be reported, each one more.
#[tokio::test]
async fn diff_restated_names_exactly_the_cells_late_data_changed() {
    let work = tempfile::tempdir().expect("temp");
    let store = generated_store(work.path());
    let later = "2026-07-01";
    copy_dir(&store.join(ID), &store.join(later));
    let manifest = store.join(later).join("_manifest.json");
    let mut facts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).expect("read")).expect("json");
    facts["exported_at"] = serde_json::json!("2026-07-01T18:00:00Z");
    std::fs::write(&manifest, serde_json::to_vec(&facts).expect("json")).expect("write");

    let open = |id: &'static str| {
        let store = Store::open(text(&store)).expect("store");
        async move {
            let snapshot = Snapshot::open(&store, id, false).await.expect("snapshot");
            Session::open(&store, snapshot, SessionOptions::default())
                .await
                .expect("session")
        }
    };
    let yesterday = open(ID).await;
    let found = csv(
        &yesterday,
        "WITH last AS (SELECT user_id, max(day) AS last_day FROM engagement_days GROUP BY user_id)
         SELECT l.user_id, l.last_day, u.cohort_week, u.created_at
         FROM last l JOIN users_clean u ON u.id = l.user_id
         WHERE l.last_day <= DATE '2026-04-15'
           AND date_trunc('month', l.last_day) < date_trunc('month', l.last_day + INTERVAL '30 days')
         ORDER BY l.user_id LIMIT 1",
    )
    .await;
    let [user, last, cohort, created_at] = found
        .get(1)
        .expect("a user who stopped engaging months before as_of")
        .split(',')
        .collect::<Vec<_>>()[..]
    else {
        panic!("{found:?}");
    };
    let user: i64 = user.parse().expect("id");
    let day: NaiveDate = last.parse::<NaiveDate>().expect("date") + Days::new(30);
    let cohort: NaiveDate = cohort.parse().expect("week");
    let signup_month = &created_at[..7];

    // The late login, in the schema of the snapshot's own event files.
    let template = store
        .join(later)
        .join(format!("user_events/month={}", &day.to_string()[..7]))
        .join("part-00000.parquet");
    let batch =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&template).expect("open"))
            .expect("parquet")
            .build()
            .expect("reader")
            .next()
            .expect("a batch")
            .expect("reads")
            .slice(0, 1);
    let columns: Vec<ArrayRef> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let value: Option<ArrayRef> = match field.name().as_str() {
                "id" => Some(std::sync::Arc::new(Int64Array::from(vec![
                    1_000_000_000_000,
                ]))),
                "user_id" => Some(std::sync::Arc::new(Int64Array::from(vec![user]))),
                "event_type" => Some(std::sync::Arc::new(StringArray::from(vec!["login"]))),
                "event_timestamp" => Some(std::sync::Arc::new(StringArray::from(vec![format!(
                    "{day}T12:00:00Z"
                )]))),
                _ => None,
            };
            value.map_or_else(
                || column.clone(),
                |v| cast(&v, field.data_type()).expect("cast"),
            )
        })
        .collect();
    let late = snapmetrics::datafusion::arrow::array::RecordBatch::try_new(batch.schema(), columns)
        .expect("batch");
    write_parquet(&template.with_file_name("late-00000.parquet"), &late);

    let old = work.path().join("old");
    let new = work.path().join("new");
    snapmetrics::output::report::write(&yesterday, &Default::default(), &old, &[])
        .await
        .expect("old report");
    snapmetrics::output::report::write(&open(later).await, &Default::default(), &new, &[])
        .await
        .expect("new report");

    let output = snapmetrics(&[
        "diff",
        text(&old),
        text(&new),
        "--restated",
        "--format",
        "csv",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let rows: Vec<Vec<String>> = stdout(&output)
        .lines()
        .skip(1)
        .map(|line| {
            let mut reader = ::csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_bytes());
            reader
                .records()
                .next()
                .expect("a record")
                .expect("CSV")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    let reported: BTreeSet<(String, String, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[2].clone(), r[3].clone()))
        .collect();
    assert_eq!(reported.len(), rows.len(), "a cell twice: {rows:?}");
    for row in &rows {
        assert_eq!(row[1], "changed", "{row:?}");
        if !row[3].ends_with("rate") {
            let (a, b): (i64, i64) = (row[4].parse().expect("old"), row[5].parse().expect("new"));
            assert_eq!(b, a + 1, "{row:?}");
        }
    }

    let week = day.week(Weekday::Mon).first_day();
    let month = day.format("%Y-%m").to_string();
    let months_since_signup = {
        let signup: NaiveDate = format!("{signup_month}-01").parse().expect("month");
        (day.year() - signup.year()) * 12 + day.month() as i32 - signup.month() as i32
    };
    let mut expected = BTreeSet::new();
    let mut cell = |file: &str, key: String, columns: &[&str]| {
        for column in columns {
            expected.insert((file.to_string(), key.clone(), column.to_string()));
        }
    };
    let offset = (week - cohort).num_days() / 7;
    cell(
        "cohort_retention.csv",
        format!("cohort_week={cohort},week_offset={offset}"),
        &["retained_users", "retention_rate"],
    );
    cell(
        "cohort_retention_monthly.csv",
        format!("cohort_month={signup_month},month_offset={months_since_signup}"),
        &["retained_users", "retention_rate"],
    );
    cell(
        "lifecycle_weekly.csv",
        format!("week={week}"),
        &["active_users", "resurrecting_users"],
    );
    cell(
        "lifecycle_weekly.csv",
        format!("week={}", week + Days::new(7)),
        &["dormant_users"],
    );
    cell(
        "active_users_daily.csv",
        format!("date={day}"),
        &["dau", "wau", "mau_30d"],
    );
    for later_day in 1..30 {
        let columns: &[&str] = if later_day < 7 {
            &["wau", "mau_30d"]
        } else {
            &["mau_30d"]
        };
        cell(
            "active_users_daily.csv",
            format!("date={}", day + Days::new(later_day)),
            columns,
        );
    }
    cell(
        "stickiness_monthly.csv",
        format!("month={month},days_active=1"),
        &["users", "users_at_least"],
    );
    cell("vanity_monthly.csv", format!("month={month}"), &["mau"]);
    assert_eq!(reported, expected, "user {user}, login on {day}");

    // Without --restated the rows that were not over yet, and the new ones, show too.
    let all = snapmetrics(&["diff", text(&old), text(&new), "--format", "csv"]);
    assert!(stdout(&all).lines().count() > rows.len() + 1);
    assert!(stdout(&all).contains(",only_in_new,"));

    // Identical reports: exit 0, nothing printed; a CSV has its header only.
    let same = snapmetrics(&["diff", text(&old), text(&old)]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert!(same.stdout.is_empty(), "{}", stdout(&same));
    let same = snapmetrics(&["diff", text(&old), text(&old), "--format", "csv"]);
    assert_eq!(stdout(&same).lines().count(), 1);

    // A file on one side only is named.
    let fewer = work.path().join("fewer");
    copy_dir(&old, &fewer);
    std::fs::remove_file(fewer.join("stickiness_monthly.csv")).expect("rm");
    let output = snapmetrics(&["diff", text(&old), text(&fewer), "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("| stickiness_monthly.csv | file_only_in_old |"),
        "{}",
        stdout(&output)
    );
    assert_bad_input(&["diff", text(&old), "/no/such/report"], "no such folder");
}
