//! The HTML report: every part present, the numbers of the CSV files, nothing to fetch,
//! text from the data escaped, and the same bytes on every run.

use std::path::Path;

use snapmetrics::engine::session::{Filters, Session, SessionOptions};
use snapmetrics::generate::{GenerateOptions, generate};
use snapmetrics::output::report::ReportFormat;
use snapmetrics::source::snapshot::Snapshot;
use snapmetrics::source::store::Store;

use crate::fixtures::{Fixture, events, onboarding, users};

/// Two users in two signup weeks; one finishes a two-step onboarding.
fn snapshot() -> Fixture {
    let f = Fixture::new("2026-02-18");
    f.with_empty_tables();
    f.write(
        "users.parquet",
        &users(&[
            (1, "2026-02-02T10:00:00Z", Some(true)),
            (2, "2026-02-09T10:00:00Z", None),
        ]),
    );
    f.write(
        "user_events.parquet",
        &events(&[
            (1, 1, "login", "2026-02-02T11:00:00Z"),
            (2, 2, "login", "2026-02-10T11:00:00Z"),
        ]),
    );
    f.write(
        "onboarding_responses.parquet",
        &onboarding(&[(
            1,
            1,
            "2026-02-02T10:05:00Z",
            2,
            2,
            Some("2026-02-02T12:35:00Z"),
        )]),
    );
    f
}

/// Writes the report with the HTML page into `out` and returns the page.
async fn page(f: &Fixture, filters: Filters, out: &Path) -> String {
    let session = f.session().await;
    snapmetrics::output::report::write(&session, &filters, out, &[ReportFormat::Html])
        .await
        .expect("report");
    std::fs::read_to_string(out.join("report.html")).expect("report.html")
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[tokio::test]
async fn page_has_every_part_with_the_fixture_numbers() {
    let f = snapshot();
    let out = tempfile::tempdir().expect("temp");
    let target = out.path().join("report");
    let html = page(&f, Filters::default(), &target).await;

    for id in [
        "report-header",
        "summary",
        "retention-heatmap",
        "users-chart",
        "transactions-chart",
        "banks-chart",
        "monthly-table",
        "funnel-chart",
        "dropoff-chart",
        "quality-table",
        "retention-curve-chart",
        "monthly-retention-heatmap",
        "lifecycle-chart",
        "active-users-chart",
        "stickiness-chart-2026-02",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    // Header: snapshot, as_of and where it came from, filters, tool version.
    assert!(html.contains("<h1>Snapshot 2026-02-18</h1>"));
    assert!(html.contains("2026-02-18T23:59:59.999999Z"));
    assert!(html.contains("(snapshot id)"));
    assert!(html.contains("engagement events: login, dashboard_access"));
    assert!(html.contains(&format!("snapmetrics {}", env!("CARGO_PKG_VERSION"))));
    // Heatmap: as_of falls in the week of 2026-02-16, so each cohort's last week is open.
    assert!(html.contains("title=\"2026-02-02 cohort, week 0: 1 of 1 users (100.0%)\">100<"));
    assert!(html.contains("title=\"2026-02-02 cohort, week 1: 0 of 1 users (0.0%)\">0<"));
    assert!(html.contains(
        "class=\"zero partial\" style=\"background-color:#ffffd9\" \
         title=\"2026-02-02 cohort, week 2: 0 of 1 users (0.0%), week not over at as_of\""
    ));
    assert!(html.contains("title=\"2026-02-09 cohort, week 0: 1 of 1 users (100.0%)\""));
    assert!(
        !html.contains("2026-02-09 cohort, week 2"),
        "a week after as_of"
    );
    // Monthly: the one month is not over.
    assert!(html.contains(
        "<tr class=\"partial\"><th scope=\"row\">2026-02 <span class=\"muted\">(not over)\
         </span></th><td>2</td><td>2</td><td>2</td><td>0</td><td>0</td><td>0</td></tr>"
    ));
    // Onboarding: 1 of 2 users completed; step 1 and 2 reached by that user.
    assert!(html.contains("<title>Completed onboarding: 1 · 50.0%</title>"));
    assert!(html.contains("<title>Finished step 2: 1 · 50.0%</title>"));
    assert!(html.contains("<title>Left at step 1: 0 · 0.0% of 1</title>"));
    // Data quality: every check, none failing.
    assert!(html.contains("All 25 checks passed"));
    assert!(html.contains("<td>users</td><td><code>duplicate_id</code></td><td>0</td>"));

    // The manifest lists the page like every other output.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join("manifest.json")).expect("manifest"))
            .expect("json");
    let outputs = manifest["outputs"].as_array().expect("outputs");
    assert!(outputs.iter().any(|o| o["file"] == "report.html"));
}

#[tokio::test]
async fn page_fetches_nothing() {
    let f = snapshot();
    let out = tempfile::tempdir().expect("temp");
    let html = page(&f, Filters::default(), &out.path().join("r")).await;
    for reference in [
        "http://", "https://", "src=", "<link", "<script", "@import", "url(",
    ] {
        assert!(!html.contains(reference), "the page has {reference}");
    }
    assert!(
        html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""),
        "the page forbids fetching"
    );
}

#[tokio::test]
async fn page_is_byte_identical_across_runs() {
    let f = snapshot();
    let out = tempfile::tempdir().expect("temp");
    // Fresh sessions, as a rerun the next day would have.
    let first = page(&f, Filters::default(), &out.path().join("a")).await;
    let second = page(&f, Filters::default(), &out.path().join("b")).await;
    assert!(first == second, "report.html differs between two runs");
}

#[tokio::test]
async fn text_from_the_data_and_flags_is_escaped() {
    let f = snapshot();
    let out = tempfile::tempdir().expect("temp");
    let filters = Filters {
        bank: Some("<b>\"Crédit & Co\"</b>".to_string()),
        event_types: vec!["login".to_string(), "<script>alert(1)</script>".to_string()],
        ..Filters::default()
    };
    let html = page(&f, filters, &out.path().join("r")).await;
    assert!(html.contains("bank: &lt;b&gt;&quot;Crédit &amp; Co&quot;&lt;/b&gt;"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<b>"));
}

#[tokio::test]
async fn failing_checks_are_counted_and_highlighted() {
    let f = snapshot();
    // User 2 exported twice: one extra copy is counted under duplicate_id.
    f.write(
        "users.parquet",
        &users(&[
            (1, "2026-02-02T10:00:00Z", Some(true)),
            (2, "2026-02-09T10:00:00Z", None),
            (2, "2026-02-10T10:00:00Z", None),
        ]),
    );
    let out = tempfile::tempdir().expect("temp");
    let html = page(&f, Filters::default(), &out.path().join("r")).await;
    assert!(
        html.contains("<strong>1 row</strong> was excluded from the metrics by 1 of 25 checks")
    );
    assert!(html.contains(
        "<tr class=\"flag\"><td>users</td><td><code>duplicate_id</code></td><td>1</td></tr>"
    ));
}

#[tokio::test]
async fn an_empty_snapshot_still_renders() {
    let f = Fixture::new("2026-02-18");
    f.with_empty_tables();
    let out = tempfile::tempdir().expect("temp");
    let html = page(&f, Filters::default(), &out.path().join("r")).await;
    assert!(html.contains("No cohorts."));
    assert!(html.contains("id=\"users-chart\""));
    assert!(html.ends_with("</html>\n"));
}

/// One CSV file of the report as rows of fields, without its header.
fn csv(dir: &Path, file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join(file))
        .expect("csv")
        .lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect()
}

fn int(field: &str) -> i64 {
    field.parse().expect("integer field")
}

#[tokio::test]
async fn page_shows_the_numbers_of_the_csv_files() {
    let work = tempfile::tempdir().expect("temp");
    let store = work.path().join("store");
    generate(
        &store.join("2026-06-30"),
        &GenerateOptions::new(150, 5),
        &|_| {},
    )
    .expect("snapshot generates");
    let store = Store::open(store.to_str().expect("UTF-8 temp path")).expect("store opens");
    let snapshot = Snapshot::open(&store, "2026-06-30", false)
        .await
        .expect("snapshot opens");
    let session = Session::open(&store, snapshot, SessionOptions::default())
        .await
        .expect("session opens");
    let report = work.path().join("report");
    snapmetrics::output::report::write(
        &session,
        &Default::default(),
        &report,
        &[ReportFormat::Html],
    )
    .await
    .expect("report");
    let html = std::fs::read_to_string(report.join("report.html")).expect("report.html");

    let retention = csv(&report, "cohort_retention.csv");
    for row in &retention {
        let cell = format!(
            "title=\"{} cohort, week {}: {} of {} users (",
            row[0],
            row[2],
            thousands(int(&row[3])),
            thousands(int(&row[1]))
        );
        assert!(html.contains(&cell), "no heatmap cell {cell}");
    }
    assert_eq!(html.matches(" cohort, week ").count(), retention.len());

    for row in csv(&report, "vanity_monthly.csv") {
        let cells: String = row[1..7]
            .iter()
            .map(|v| format!("<td>{}</td>", thousands(int(v))))
            .collect();
        let label = if row[7] == "true" {
            format!("<th scope=\"row\">{}</th>", row[0])
        } else {
            format!("<th scope=\"row\">{} <span", row[0])
        };
        assert!(html.contains(&label), "no month {}", row[0]);
        assert!(html.contains(&cells), "month {}: no {cells}", row[0]);
    }

    let activation = csv(&report, "activation.csv");
    let completed: i64 = activation.iter().map(|r| int(&r[3])).sum();
    let started: i64 = activation.iter().map(|r| int(&r[2])).sum();
    assert!(html.contains(&format!(
        "<title>Completed onboarding: {} · ",
        thousands(completed)
    )));
    assert!(html.contains(&format!(
        "<title>Started onboarding: {} · ",
        thousands(started)
    )));
    let dropoff = csv(&report, "onboarding_dropoff.csv");
    let last_step = dropoff.iter().map(|r| int(&r[1])).max().expect("steps");
    for step in 1..=last_step {
        let reached: i64 = dropoff
            .iter()
            .filter(|r| int(&r[1]) == step)
            .map(|r| int(&r[2]))
            .sum();
        let dropped: i64 = dropoff
            .iter()
            .filter(|r| int(&r[1]) == step)
            .map(|r| int(&r[3]))
            .sum();
        assert!(html.contains(&format!(
            "<title>Finished step {step}: {} · ",
            thousands(reached)
        )));
        assert!(html.contains(&format!(
            "<title>Left at step {step}: {} · ",
            thousands(dropped)
        )));
    }

    // The activity parts: every lifecycle count, every monthly cell, the curve's rates,
    // every stickiness count; the daily lines have too many points to mark, so only
    // their chart is there.
    for row in csv(&report, "lifecycle_weekly.csv") {
        let partial = if row[6] == "true" {
            String::new()
        } else {
            " (not over at as_of)".to_string()
        };
        for (column, name) in [
            (2, "new"),
            (3, "returning"),
            (4, "resurrecting"),
            (5, "dormant"),
        ] {
            let bar = format!(
                "<title>{}{partial}: {} {name}</title>",
                row[0],
                thousands(int(&row[column]))
            );
            assert!(html.contains(&bar), "no lifecycle bar {bar}");
        }
    }
    let monthly = csv(&report, "cohort_retention_monthly.csv");
    for row in &monthly {
        let cell = format!(
            "title=\"{} cohort, month {}: {} of {} users (",
            row[0],
            row[2],
            thousands(int(&row[3])),
            thousands(int(&row[1]))
        );
        assert!(html.contains(&cell), "no monthly cell {cell}");
    }
    assert_eq!(html.matches(" cohort, month ").count(), monthly.len());
    for row in csv(&report, "retention_curve.csv") {
        let rate: f64 = row[4].parse().expect("rate");
        let point = format!(
            "<title>week {} ({} cohorts): {:.1}% engaged in the week</title>",
            row[0],
            thousands(int(&row[1])),
            (rate * 10_000.0).round() / 100.0
        );
        assert!(html.contains(&point), "no curve point {point}");
    }
    let stickiness = csv(&report, "stickiness_monthly.csv");
    for row in &stickiness {
        let days = int(&row[1]);
        let partial = if row[4] == "true" {
            ""
        } else {
            " (not over at as_of)"
        };
        let bar = format!(
            "<title>{days} {}{partial}: {} users</title>",
            if days == 1 { "day" } else { "days" },
            thousands(int(&row[2]))
        );
        assert!(html.contains(&bar), "no stickiness bar {bar} ({})", row[0]);
        if days == 1 {
            assert!(html.contains(&format!(
                "{} active users</summary>",
                thousands(int(&row[3]))
            )));
        }
    }
    assert!(html.contains("id=\"active-users-chart\""));

    for row in csv(&report, "data_quality.csv") {
        let line = format!(
            "<td>{}</td><td><code>{}</code></td><td>{}</td>",
            row[0],
            row[1],
            thousands(int(&row[2]))
        );
        assert!(html.contains(&line), "no data-quality row {line}");
    }
}
