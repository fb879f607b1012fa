//! The binary's contract: one-line errors on stderr, fixed exit codes.

use std::process::{Command, Output};

use crate::fixtures::{Fixture, users};

fn snapmetrics(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snapmetrics"))
        .args(args)
        .env_remove("SNAPMETRICS_STORE")
        .output()
        .expect("runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let f = Fixture::new("2026-01-31");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[(1, "2026-01-10T08:00:00Z", None)]),
    );
    let store = f.store();
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
