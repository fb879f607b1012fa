//! The shell, typed into a real pseudo-terminal (rexpect), and run as a script.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use rexpect::session::PtySession;

use crate::fixtures::{command, snapmetrics, stderr};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
const PROMPT: &str = "2026-06-30> ";

/// The shell on the bundled sample, in a pseudo-terminal, with its history under `state`.
fn spawn(state: &Path, extra: &[&str]) -> PtySession {
    let mut args = vec!["shell", "--store", SAMPLE];
    args.extend_from_slice(extra);
    let mut shell = command(&args);
    // The pseudo-terminal is stdin: rexpect attaches it before exec.
    shell
        .stdin(std::process::Stdio::inherit())
        .env("XDG_STATE_HOME", state)
        .env("TERM", "xterm")
        .env_remove("HOME");
    let mut session = rexpect::session::spawn_command(shell, Some(60_000)).expect("spawn");
    session.exp_string(PROMPT).expect("first prompt");
    session
}

/// Leaves with `\q`; the shell must exit.
fn quit(mut shell: PtySession) {
    shell.send_line("\\q").expect("quit");
    shell.exp_eof().expect("exits");
}

fn sample_value(sql: &str) -> String {
    let output = snapmetrics(&["sql", "--store", SAMPLE, "--format", "csv", sql]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).expect("utf-8");
    text.lines().nth(1).expect("one row").to_string()
}

#[test]
fn a_multi_line_statement_runs_when_its_semicolon_comes() {
    let state = tempfile::tempdir().expect("tempdir");
    let users = sample_value("SELECT count(*) FROM users");
    let mut shell = spawn(state.path(), &[]);
    shell.send_line("SELECT count(*) AS n_users").expect("type");
    shell.send_line("FROM users;").expect("type");
    let table = shell.exp_string("1 row").expect("the result");
    assert!(table.contains("| n_users |"), "{table}");
    assert!(table.contains(&format!("{users} |")), "{table}");
    shell.exp_string(PROMPT).expect("prompt");
    quit(shell);
}

#[test]
fn tab_completes_a_column_of_the_named_table() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut shell = spawn(state.path(), &[]);
    // `is_act` is no column: the statement runs only if Tab made it `is_active`.
    shell
        .send("SELECT count(*) AS completed_ok FROM users WHERE is_act")
        .expect("type");
    shell.send("\t").expect("tab");
    shell.send_line(" IS NULL OR true;").expect("type");
    let table = shell.exp_string("1 row").expect("the result");
    assert!(table.contains("| completed_ok |"), "{table}");
    assert!(!table.contains("snapmetrics:"), "{table}");
    quit(shell);
}

#[test]
fn ctrl_c_cancels_the_running_query_and_keeps_the_shell() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut shell = spawn(state.path(), &[]);
    // Three-way cross join of the events: hours of work, cut short.
    shell
        .send_line(
            "SELECT sum(a.user_id * b.user_id - c.user_id) FROM user_events a, user_events b, user_events c;",
        )
        .expect("type");
    // The progress line shows that the query is running.
    shell.exp_string(" rows").expect("progress");
    let pressed = Instant::now();
    shell.send_control('c').expect("ctrl-c");
    shell.exp_string("query cancelled").expect("cancelled");
    shell.exp_string(PROMPT).expect("prompt again");
    eprintln!("Ctrl-C to prompt: {:?}", pressed.elapsed());
    shell
        .send_line("SELECT 'still' || '_here' AS alive;")
        .expect("type");
    shell.exp_string("still_here").expect("the next query runs");
    quit(shell);
}

#[test]
fn a_refused_statement_is_one_line_and_the_shell_goes_on() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut shell = spawn(state.path(), &[]);
    shell
        .send_line("COPY users TO '/tmp/snapmetrics-refused.csv';")
        .expect("type");
    shell
        .exp_string("refused: 'COPY users TO'")
        .expect("refusal");
    shell.exp_string(PROMPT).expect("prompt");
    shell
        .send_line("SELECT 'after' || '_refusal' AS next;")
        .expect("type");
    shell
        .exp_string("after_refusal")
        .expect("the next query runs");
    quit(shell);
    assert!(!Path::new("/tmp/snapmetrics-refused.csv").exists());
}

#[test]
fn history_is_written_without_pii_and_never_with_it() {
    for (pii, written) in [(&[][..], true), (&["--include-pii"][..], false)] {
        let state = tempfile::tempdir().expect("tempdir");
        let mut shell = spawn(state.path(), pii);
        shell
            .send_line("SELECT 'kept' || '_query' AS h;")
            .expect("type");
        shell.exp_string("kept_query").expect("result");
        shell.send_control('d').expect("ctrl-d");
        shell.exp_eof().expect("exits");
        let history = state.path().join("snapmetrics/history");
        let text = std::fs::read_to_string(&history).unwrap_or_default();
        assert_eq!(
            text.contains("SELECT 'kept' || '_query' AS h;"),
            written,
            "pii {pii:?}: {text:?}"
        );
        if !written {
            assert!(!history.exists());
        }
    }
}

/// Runs `script` through `snapmetrics shell` on stdin, on the sample.
fn script(script: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["shell", "--store", SAMPLE];
    args.extend_from_slice(extra);
    let mut child = command(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    child.wait_with_output().expect("runs")
}

#[test]
fn metric_in_the_shell_equals_the_metric_command() {
    let filters = ["--from", "2026-01-05", "--active-only"];
    let mut args = vec![
        "metric",
        "cohort_retention",
        "--store",
        SAMPLE,
        "--format",
        "csv",
    ];
    args.extend_from_slice(&filters);
    let alone = snapmetrics(&args);
    assert!(alone.status.success(), "{}", stderr(&alone));
    let shell = script(
        &format!(
            "\\format csv\n\\metric cohort_retention {}\n",
            filters.join(" ")
        ),
        &[],
    );
    assert!(shell.status.success(), "{}", stderr(&shell));
    assert_eq!(
        String::from_utf8_lossy(&shell.stdout),
        String::from_utf8_lossy(&alone.stdout)
    );
    assert!(alone.stdout.len() > 100);

    // Another filter set on the same opened snapshot gives another answer.
    let both = script(
        "\\format csv\n\\metric activation --to 2026-02-01\n\\metric activation\n",
        &[],
    );
    assert!(both.status.success(), "{}", stderr(&both));
    let text = String::from_utf8_lossy(&both.stdout);
    let all = snapmetrics(&["metric", "activation", "--store", SAMPLE, "--format", "csv"]);
    let all = String::from_utf8_lossy(&all.stdout).to_string();
    let filtered = text.strip_suffix(&all).expect("the unfiltered metric last");
    assert!(filtered.lines().count() > 1 && filtered != all, "{text}");
}

#[test]
fn a_script_stops_at_its_first_error_unless_told_to_go_on() {
    let text = "SELECT 1 AS one;\nSELECT nope\n  FROM users;\nSELECT 3 AS three;\n";
    let stopped = script(text, &["--format", "csv"]);
    assert_eq!(stopped.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&stopped.stdout), "one\n1\n");
    let message = stderr(&stopped);
    assert!(message.starts_with("snapmetrics: stdin:2: "), "{message}");
    assert!(message.contains("nope"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");

    let went_on = script(text, &["--format", "csv", "--keep-going"]);
    assert_eq!(went_on.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&went_on.stdout),
        "one\n1\nthree\n3\n"
    );

    // `sql` with no statement and a pipe on stdin reads the script the same way.
    let mut child = command(&["sql", "--store", SAMPLE, "--format", "csv"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"SELECT 7 AS seven")
        .expect("write");
    let output = child.wait_with_output().expect("runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "seven\n7\n");
}

#[test]
fn describe_and_summarize_read_the_catalogue_and_the_rows() {
    let users = sample_value("SELECT count(*) FROM users");
    let active = sample_value("SELECT count(is_active) FROM users");
    let output = script(
        "\\format csv\n\\d\n\\d users_clean\n\\summarize users\n",
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        text.contains(&format!("users,source table,{users}\n")),
        "{text}"
    );
    assert!(text.contains("users_clean,kept view,"), "{text}");
    assert!(
        text.contains("user_events_summary,computed on first use,\n"),
        "{text}"
    );
    assert!(text.contains("cohort_users,filter view,\n"), "{text}");
    // PII is not registered, so not described.
    assert!(!text.contains("l0_pii_users"), "{text}");
    assert!(
        text.contains("created_at,TIMESTAMP WITH TIME ZONE (UTC),"),
        "{text}"
    );
    let summary = text
        .split("column,type,count,")
        .nth(1)
        .expect("the summary");
    let is_active = summary
        .lines()
        .find(|l| l.starts_with("is_active,BOOLEAN,"))
        .expect("is_active summarized");
    assert!(
        is_active.starts_with(&format!("is_active,BOOLEAN,{active},")),
        "{is_active}"
    );
    assert!(is_active.contains(",false,true,"), "{is_active}");

    let missing = script("\\d l0_pii_users\n", &[]);
    assert_eq!(missing.status.code(), Some(2));
    let message = stderr(&missing);
    assert!(
        message.contains("no table or view 'l0_pii_users'"),
        "{message}"
    );
    assert!(message.contains("--include-pii"), "{message}");
}

#[test]
fn bad_meta_commands_are_one_line_errors() {
    for (line, expected) in [
        ("\\format xml", "unknown format 'xml'"),
        ("\\metric nope", "unknown metric 'nope'"),
        ("\\metric activation --from 2026-13-01", "\\metric"),
        (
            "\\metric activation --from 2026-03-01 --to 2026-01-01",
            "--from/--to",
        ),
        ("\\frobnicate", "unknown command \\frobnicate"),
        ("\\snapshot 1999-01-01", "snapshot '1999-01-01' not found"),
        ("\\i /nonexistent/file.sql", "/nonexistent/file.sql"),
        ("\\format parquet\nSELECT 1;", "parquet is binary"),
        ("\\timing sometimes", "usage: \\timing [on|off]"),
    ] {
        let output = script(&format!("{line}\n"), &[]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{line}: {message}");
        assert!(message.contains(expected), "{line}: {message}");
        assert_eq!(message.lines().count(), 1, "{line}: {message}");
    }
}

#[test]
fn output_and_include_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let included = dir.path().join("inner.sql");
    std::fs::write(&included, "SELECT 'from' || '_include' AS i;\n").expect("write");
    let out = dir.path().join("out.csv");
    let output = script(
        &format!(
            "\\format csv\n\\o {}\n\\i {}\n\\o\nSELECT 'to' || '_stdout' AS s;\n",
            out.display(),
            included.display()
        ),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(&out).expect("out"),
        "i\nfrom_include\n"
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "s\nto_stdout\n");

    // A file that includes itself stops, with an error.
    let looped = dir.path().join("loop.sql");
    std::fs::write(&looped, format!("\\i {}\n", looped.display())).expect("write");
    let output = script(&format!("\\i {}\n", looped.display()), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("does it include itself"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_table_shows_its_first_rows_and_counts_the_rest() {
    let output = script(
        "SELECT * FROM (VALUES (1), (2), (3), (4), (5)) AS t(n);\n",
        &["--max-rows", "2"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("| 1 |\n| 2 |\n+---+\n"), "{text}");
    assert!(text.contains("5 rows, 3 not shown"), "{text}");
}
