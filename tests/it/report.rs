//! Report files: reproducible to the byte, published all together or not at all.

use std::path::Path;

use crate::fixtures::{Fixture, events, onboarding, users};

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
        "user_events/part-0.parquet",
        &events(&[
            (1, 1, "login", "2026-02-02T11:00:00Z"),
            (2, 2, "login", "2026-02-10T11:00:00Z"),
        ]),
    );
    std::fs::remove_file(f.snapshot_dir().join("user_events.parquet")).expect("rm");
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

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("report dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn same_snapshot_gives_byte_identical_files() {
    let f = snapshot();
    let out = tempfile::tempdir().expect("temp");
    let formats = [
        snapmetrics::output::report::ReportFormat::Parquet,
        snapmetrics::output::report::ReportFormat::Json,
    ];
    let first = out.path().join("a");
    let second = out.path().join("b");
    snapmetrics::output::report::write(&f.session().await, &Default::default(), &first, &formats)
        .await
        .expect("first");
    // A fresh session, as a rerun the next day would have.
    snapmetrics::output::report::write(&f.session().await, &Default::default(), &second, &formats)
        .await
        .expect("second");
    let (a, b) = (files(&first), files(&second));
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "activation.csv",
            "activation.json",
            "activation.parquet",
            "active_users_daily.csv",
            "active_users_daily.json",
            "active_users_daily.parquet",
            "cohort_retention.csv",
            "cohort_retention.json",
            "cohort_retention.parquet",
            "cohort_retention_monthly.csv",
            "cohort_retention_monthly.json",
            "cohort_retention_monthly.parquet",
            "cohort_retention_unbounded.csv",
            "cohort_retention_unbounded.json",
            "cohort_retention_unbounded.parquet",
            "data_quality.csv",
            "data_quality.json",
            "data_quality.parquet",
            "lifecycle_weekly.csv",
            "lifecycle_weekly.json",
            "lifecycle_weekly.parquet",
            "manifest.json",
            "onboarding_dropoff.csv",
            "onboarding_dropoff.json",
            "onboarding_dropoff.parquet",
            "retention_curve.csv",
            "retention_curve.json",
            "retention_curve.parquet",
            "stickiness_monthly.csv",
            "stickiness_monthly.json",
            "stickiness_monthly.parquet",
            "vanity_monthly.csv",
            "vanity_monthly.json",
            "vanity_monthly.parquet",
        ]
    );
    assert!(a == b, "report files differ between two runs");
}

#[tokio::test]
async fn manifest_pins_inputs_queries_and_outputs() {
    let f = snapshot();
    let out = tempfile::tempdir().expect("temp");
    let target = out.path().join("report");
    snapmetrics::output::report::write(&f.session().await, &Default::default(), &target, &[])
        .await
        .expect("report");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["snapshot"]["id"], "2026-02-18");
    assert_eq!(manifest["snapshot"]["as_of"], "2026-02-18T23:59:59.999999Z");
    assert_eq!(manifest["snapshot"]["as_of_source"], "snapshot_id");
    assert_eq!(manifest["tool"]["version"], env!("CARGO_PKG_VERSION"));
    let inputs = manifest["inputs"].as_array().expect("inputs");
    let paths: Vec<&str> = inputs.iter().filter_map(|i| i["path"].as_str()).collect();
    assert_eq!(
        paths,
        [
            "onboarding_responses.parquet",
            "transactions.parquet",
            "user_events/part-0.parquet",
            "users.parquet"
        ]
    );
    let users = std::fs::read(f.snapshot_dir().join("users.parquet")).expect("users");
    assert_eq!(inputs[3]["size"], users.len());
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(&users)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(inputs[3]["sha256"], digest.as_str());
    for output in manifest["outputs"].as_array().expect("outputs") {
        let file = output["file"].as_str().expect("file");
        let bytes = std::fs::read(target.join(file)).expect("output");
        let digest: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(output["sha256"], digest.as_str(), "{file}");
    }
    assert!(manifest["queries"].as_array().expect("queries").len() >= 5);
}

#[tokio::test]
async fn a_failed_run_leaves_the_previous_report_intact() {
    let f = snapshot();
    let out = tempfile::tempdir().expect("temp");
    let target = out.path().join("report");
    snapmetrics::output::report::write(&f.session().await, &Default::default(), &target, &[])
        .await
        .expect("first report");
    let before = files(&target);

    // The snapshot loses a file after it was opened: the scan fails mid-report.
    let session = f.session().await;
    std::fs::remove_file(f.snapshot_dir().join("user_events/part-0.parquet")).expect("rm");
    let err = snapmetrics::output::report::write(&session, &Default::default(), &target, &[])
        .await
        .expect_err("fails");
    assert!(!err.to_string().is_empty());
    assert!(files(&target) == before, "the previous report changed");
    let leftovers: Vec<String> = std::fs::read_dir(out.path())
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(leftovers, ["report"], "staging folders left behind");
}
