//! The binary's contract: one-line errors on stderr, fixed exit codes.

use crate::fixtures::{Fixture, snapmetrics, stderr, users};

#[test]
fn bad_input_exits_2_with_one_line() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    let store = f.store();
    let generated = f.snapshot_dir().join("generated").display().to_string();
    for args in [
        vec!["sql", "SELECT 1", "--store", "/no/such/store"],
        vec![
            "sql",
            "SELECT 1",
            "--store",
            &store,
            "--snapshot",
            "1999-01-01",
        ],
        vec!["sql", "DROP TABLE users", "--store", &store],
        vec!["sql", "SELECT 1", "--store", &store, "--tz", "Mars/Base"],
        vec!["metric", "nope", "--store", &store],
        vec![
            "metric",
            "mau",
            "--store",
            &store,
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
        ],
        vec!["sql", "SELECT 1", "--store", &store, "--format", "parquet"],
        vec!["generate", "--out", &generated, "--layout", "sideways"],
        vec!["generate", "--out", &generated, "--users", "0"],
    ] {
        let output = snapmetrics(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        let text = stderr(&output);
        assert_eq!(text.trim_end().lines().count(), 1, "{args:?}: {text}");
        assert!(text.starts_with("snapmetrics: "), "{text}");
        assert!(output.stdout.is_empty(), "{args:?} printed a result");
    }
}

#[test]
fn queries_and_metrics_print_results() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    let store = f.store();
    let output = snapmetrics(&[
        "sql",
        "SELECT count(*) AS n FROM users",
        "--store",
        &store,
        "--format",
        "csv",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "n\n1\n");
    let output = snapmetrics(&["metric", "new_users", "--store", &store, "--format", "csv"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "month,new_users,is_complete\n2026-01,1,false\n"
    );
}

#[test]
fn a_report_that_does_not_fit_in_memory_fails_cleanly() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    let rows: Vec<(i64, String)> = (1..=3000)
        .map(|i| (i, format!("2026-01-{:02}T08:00:00Z", 1 + i % 28)))
        .collect();
    let rows: Vec<(i64, &str, Option<bool>)> =
        rows.iter().map(|(i, t)| (*i, t.as_str(), None)).collect();
    f.write("users.parquet", &users(&rows));
    let out = tempfile::tempdir().expect("temp");
    let target = out.path().join("report");
    let target = target.to_str().expect("utf8 path");
    let store = f.store();
    let output = snapmetrics(&[
        "report",
        "--store",
        &store,
        "--out",
        target,
        "--memory-limit",
        "64KB",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("out of memory") && text.contains("--memory-limit"),
        "{text}"
    );
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(
        !out.path().join("report").exists(),
        "a partial report was written"
    );
    let output = snapmetrics(&[
        "report",
        "--store",
        &store,
        "--out",
        target,
        "--memory-limit",
        "256MB",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
