//! Every metric against matrices computed by hand on one tiny snapshot.
//!
//! as_of = 2026-02-18T12:00:00Z (a Wednesday, from the manifest). Weeks (UTC):
//! 01-19 (user 4), 01-26 (no signups), 02-02 (users 1, 2), 02-09 (user 3), 02-16 (as_of).

use snapmetrics::engine::session::{Filters, SessionOptions};

use crate::fixtures::{
    Fixture, csv, events, filtered_report_file, onboarding, report_file, transactions, users,
};

fn snapshot() -> Fixture {
    let f = Fixture::new("2026-02-18");
    f.write_bytes(
        "_manifest.json",
        br#"{"exported_at": "2026-02-18T12:00:00Z"}"#,
    );
    f.write(
        "users/part-0.parquet",
        &users(&[
            (1, "2026-02-02T10:00:00Z", Some(true)),
            (2, "2026-02-08T23:59:00Z", Some(false)), // Sunday 23:59: still week 02-02
            (3, "2026-02-09T00:00:00Z", None),        // Monday 00:00: week 02-09
            (4, "2026-01-20T12:00:00Z", Some(true)),  // no onboarding row
        ]),
    );
    // A second file of the same table: a later copy of user 1 (duplicate_id).
    f.write(
        "users/part-1.parquet",
        &users(&[(1, "2026-02-10T00:00:00Z", Some(true))]),
    );
    f.write(
        "user_events/month=2026-02/part-0.parquet",
        &events(&[
            (1, 1, "login", "2026-02-02T11:00:00Z"),
            (2, 1, "feedback", "2026-02-10T10:00:00Z"), // not engagement
            (3, 1, "dashboard_access", "2026-02-16T08:00:00Z"),
            (4, 2, "login", "2026-02-15T23:59:59Z"), // Sunday: week 02-09
            (5, 3, "login", "2026-02-16T00:00:00Z"), // Monday: week 02-16
            (6, 4, "login", "2026-02-03T12:00:00Z"), // user 4 active only in week 2
            (7, 99, "login", "2026-02-03T12:00:00Z"), // orphan
            (8, 1, "login", "2026-02-19T00:00:00Z"), // after as_of
            (4, 2, "login", "2026-02-17T10:00:00Z"), // duplicate id: the earlier copy stays
        ]),
    );
    f.write(
        "user_events/month=2026-01/part-0.parquet",
        &events(&[(10, 3, "login", "2026-02-01T10:00:00Z")]), // before signup week
    );
    f.write(
        "onboarding_responses.parquet",
        &onboarding(&[
            (
                1,
                1,
                "2026-02-02T10:05:00Z",
                3,
                3,
                Some("2026-02-02T22:00:00Z"),
            ),
            (2, 2, "2026-02-09T00:10:00Z", 3, 1, None),
            (
                3,
                3,
                "2026-02-09T01:00:00Z",
                4,
                4,
                Some("2026-02-10T00:00:00Z"),
            ),
            (4, 3, "2026-02-09T05:00:00Z", 4, 2, None), // second row of user 3
            (5, 99, "2026-02-09T05:00:00Z", 4, 2, None), // orphan
            (6, 1, "2026-02-03T05:00:00Z", 3, 5, None), // step out of range
        ]),
    );
    f.write(
        "transactions.parquet",
        &transactions(&[
            (
                1,
                3,
                "2026-02-05",
                Some("Monzo"),
                "2026-02-10T09:00:00Z",
                Some("s1"),
            ),
            (
                2,
                3,
                "2026-01-28",
                Some("Barclays"),
                "2026-02-10T09:00:00Z",
                Some("s1"),
            ),
            (3, 1, "2026-02-11", None, "2026-02-11T10:00:00Z", None),
            (
                4,
                99,
                "2026-02-12",
                Some("Monzo"),
                "2026-02-12T10:00:00Z",
                None,
            ), // orphan
            (
                5,
                1,
                "2026-02-20",
                Some("HSBC"),
                "2026-02-11T10:00:00Z",
                None,
            ), // after as_of date
        ]),
    );
    f
}

const HEADER_RETENTION: &str =
    "cohort_week,cohort_size,week_offset,retained_users,retention_rate,is_complete";

#[tokio::test]
async fn cohort_retention_matrix() {
    let f = snapshot();
    let session = f.session().await;
    assert_eq!(
        report_file(&session, "cohort_retention.csv").await,
        [
            HEADER_RETENTION,
            "2026-01-19,1,0,0,0.000000,true",
            "2026-01-19,1,1,0,0.000000,true",
            "2026-01-19,1,2,1,1.000000,true",
            "2026-01-19,1,3,0,0.000000,true",
            "2026-01-19,1,4,0,0.000000,false",
            "2026-01-26,0,0,0,,true",
            "2026-01-26,0,1,0,,true",
            "2026-01-26,0,2,0,,true",
            "2026-01-26,0,3,0,,false",
            "2026-02-02,2,0,1,0.500000,true",
            "2026-02-02,2,1,1,0.500000,true",
            "2026-02-02,2,2,1,0.500000,false",
            "2026-02-09,1,0,1,1.000000,true", // the statement upload on 02-10
            "2026-02-09,1,1,1,1.000000,false",
        ]
    );
}

#[tokio::test]
async fn activation_and_dropoff() {
    let f = snapshot();
    let session = f.session().await;
    assert_eq!(
        report_file(&session, "activation.csv").await,
        [
            "cohort_week,cohort_size,started_onboarding,completed_onboarding,completion_rate,median_hours_to_complete",
            "2026-01-19,1,0,0,0.000000,",
            "2026-01-26,0,0,0,,",
            "2026-02-02,2,2,1,0.500000,12.000000",
            "2026-02-09,1,1,1,1.000000,24.000000",
        ]
    );
    let dropoff = report_file(&session, "onboarding_dropoff.csv").await;
    assert_eq!(dropoff[0], "cohort_week,step,reached_step,dropped_at_step");
    assert_eq!(
        dropoff[1..],
        [
            "2026-01-19,1,0,0",
            "2026-01-19,2,0,0",
            "2026-01-19,3,0,0",
            "2026-01-19,4,0,0",
            "2026-01-26,1,0,0",
            "2026-01-26,2,0,0",
            "2026-01-26,3,0,0",
            "2026-01-26,4,0,0",
            "2026-02-02,1,2,0",
            "2026-02-02,2,1,1",
            "2026-02-02,3,1,0",
            "2026-02-02,4,0,0",
            "2026-02-09,1,1,0",
            "2026-02-09,2,1,0",
            "2026-02-09,3,1,0",
            "2026-02-09,4,1,0",
        ]
    );
}

#[tokio::test]
async fn vanity_monthly() {
    let f = snapshot();
    let session = f.session().await;
    assert_eq!(
        report_file(&session, "vanity_monthly.csv").await,
        [
            "month,total_users,new_users,mau,transactions,unique_banks,statement_uploads,is_complete",
            "2026-01,1,1,0,1,1,0,true",
            "2026-02,4,3,4,2,1,1,false",
        ]
    );
}

#[tokio::test]
async fn data_quality_counts_each_row_once() {
    let f = snapshot();
    let session = f.session().await;
    let found: Vec<String> = report_file(&session, "data_quality.csv")
        .await
        .into_iter()
        .filter(|line| !line.ends_with(",0"))
        .collect();
    assert_eq!(
        found,
        [
            "table,check,rows",
            "onboarding_responses,duplicate_user_id,1",
            "onboarding_responses,last_step_out_of_range,1",
            "onboarding_responses,orphan_user_id,1",
            "transactions_all,after_as_of,1",
            "transactions_all,orphan_user_id,1",
            "user_events,after_as_of,1",
            "user_events,before_signup_week,1",
            "user_events,duplicate_id,1",
            "user_events,orphan_user_id,1",
            "users,duplicate_id,1",
        ]
    );
}

#[tokio::test]
async fn filters_are_applied() {
    let f = snapshot();
    let filters = Filters {
        from: "2026-02-03".parse().ok(),
        active_only: true,
        ..Filters::default()
    };
    let session = f.session().await;
    // From 02-03 leaves users 2 and 3; active-only drops user 2 (is_active false), keeps
    // user 3 (NULL counts as active).
    assert_eq!(
        filtered_report_file(&session, &filters, "cohort_retention.csv").await,
        [
            HEADER_RETENTION,
            "2026-02-09,1,0,1,1.000000,true",
            "2026-02-09,1,1,1,1.000000,false"
        ]
    );
    // Vanity: --from selects months; active-only removes user 2 from every count.
    assert_eq!(
        filtered_report_file(&session, &filters, "vanity_monthly.csv").await[1..],
        ["2026-02,3,2,3,2,1,1,false"]
    );
}

#[tokio::test]
async fn event_types_and_bank_filters() {
    let f = snapshot();
    let filters = Filters {
        event_types: vec!["feedback".to_string()],
        bank: Some("Barclays".to_string()),
        ..Filters::default()
    };
    let session = f.session().await;
    let retention = filtered_report_file(&session, &filters, "cohort_retention.csv").await;
    // Only user 1's feedback (week 02-09, offset 1) and user 3's upload still engage.
    assert!(
        retention.contains(&"2026-02-02,2,0,0,0.000000,true".to_string()),
        "{retention:#?}"
    );
    assert!(
        retention.contains(&"2026-02-02,2,1,1,0.500000,true".to_string()),
        "{retention:#?}"
    );
    assert!(
        retention.contains(&"2026-02-09,1,0,1,1.000000,true".to_string()),
        "{retention:#?}"
    );
    assert_eq!(
        filtered_report_file(&session, &filters, "vanity_monthly.csv").await[1..],
        ["2026-01,1,1,0,1,1,0,true", "2026-02,4,3,4,0,0,1,false"]
    );
}

#[tokio::test]
async fn time_zone_moves_week_boundaries() {
    let f = snapshot();
    let tz = snapmetrics::engine::time::parse_zone("Asia/Tokyo").expect("zone");
    let session = f
        .open(SessionOptions {
            tz,
            ..SessionOptions::default()
        })
        .await
        .expect("opens");
    // 2026-02-08T23:59Z is Monday 08:59 in Tokyo: user 2 moves to the 02-09 cohort.
    assert_eq!(
        csv(
            &session,
            "SELECT id, cohort_week FROM users_clean ORDER BY id"
        )
        .await,
        [
            "id,cohort_week",
            "1,2026-02-02",
            "2,2026-02-09",
            "3,2026-02-09",
            "4,2026-01-19"
        ]
    );
    // Sunday 23:59:59Z is Monday in Tokyo: the event moves to week 02-16.
    assert_eq!(
        csv(
            &session,
            "SELECT event_week FROM user_events_clean WHERE id = 4"
        )
        .await,
        ["event_week", "2026-02-16"]
    );
    let retention = report_file(&session, "cohort_retention.csv").await;
    assert!(
        retention.contains(&"2026-02-09,2,1,2,1.000000,false".to_string()),
        "{retention:#?}"
    );
}

#[tokio::test]
async fn l1_facts_map_tokens_and_count_unmapped() {
    use crate::fixtures::{l1_facts, tokenization};

    let f = snapshot();
    // tA is mapped twice (users 1 and 2: the smallest stays); tZ is not mapped.
    f.write(
        "l0_user_tokenization.parquet",
        &tokenization(&[(1, "tA"), (3, "tB"), (2, "tA")]),
    );
    let legacy = transactions(&[
        (
            1,
            0,
            "2026-02-03",
            Some("Monzo"),
            "2026-02-12T00:00:00Z",
            None,
        ),
        (
            2,
            0,
            "2026-02-04",
            Some("HSBC"),
            "2026-02-12T00:00:00Z",
            None,
        ),
        (
            3,
            0,
            "2026-02-05",
            Some("TSB"),
            "2026-02-12T00:00:00Z",
            None,
        ),
    ]);
    f.write(
        "l1_transaction_facts/part-0.parquet",
        &l1_facts(&legacy, &["tA", "tB", "tZ"]),
    );
    let session = f.session().await;
    assert_eq!(
        csv(
            &session,
            "SELECT id, user_id, source FROM transactions_all ORDER BY id"
        )
        .await,
        ["id,user_id,source", "1,1,l1", "2,3,l1", "3,,l1"]
    );
    let quality = report_file(&session, "data_quality.csv").await;
    assert!(
        quality.contains(&"transactions_all,unmapped_token,1".to_string()),
        "{quality:#?}"
    );
    assert!(
        quality.contains(&"l0_user_tokenization,duplicate_token,1".to_string()),
        "{quality:#?}"
    );
    // The legacy table is a copy of the same facts: never added to the l1 rows.
    assert_eq!(
        report_file(&session, "vanity_monthly.csv").await[2],
        "2026-02,4,3,4,2,2,0,false"
    );
}

/// One opened snapshot answers many filter sets: each answer is the one a session of its
/// own would give, whatever was asked before; and the two ways engagement is read (the
/// session's summary for the default event types, the clean events for any other set)
/// agree where the sets mean the same.
#[tokio::test]
async fn one_session_answers_every_filter_set() {
    use snapmetrics::engine::session::Session;
    use snapmetrics::generate::{GenerateOptions, generate};
    use snapmetrics::source::snapshot::Snapshot;
    use snapmetrics::source::store::Store;
    let work = tempfile::tempdir().expect("temp");
    let root = work.path().join("store");
    generate(
        &root.join("2026-06-30"),
        &GenerateOptions::new(200, 11),
        &|_| {},
    )
    .expect("generates");
    let store = Store::open(root.to_str().expect("utf8")).expect("store");
    let open = || async {
        let snapshot = Snapshot::open(&store, "2026-06-30", false)
            .await
            .expect("snapshot");
        Session::open(&store, snapshot, SessionOptions::default())
            .await
            .expect("session")
    };
    let sets = [
        Filters::default(),
        Filters {
            from: "2026-03-01".parse().ok(),
            to: "2026-05-31".parse().ok(),
            active_only: true,
            ..Filters::default()
        },
        Filters {
            event_types: vec!["feedback".to_string()],
            bank: Some("Monzo".to_string()),
            ..Filters::default()
        },
    ];
    let files = [
        "cohort_retention.csv",
        "vanity_monthly.csv",
        "activation.csv",
    ];
    let mut alone = Vec::new();
    for filters in &sets {
        let session = open().await;
        let mut answers = Vec::new();
        for file in files {
            answers.push(filtered_report_file(&session, filters, file).await);
        }
        alone.push(answers);
    }
    let shared = open().await;
    for (filters, expected) in sets.iter().zip(&alone).chain(sets.iter().zip(&alone).rev()) {
        for (file, expected) in files.iter().zip(expected) {
            assert_eq!(
                &filtered_report_file(&shared, filters, file).await,
                expected,
                "{file} with {filters:?}"
            );
        }
    }
    let summary = filtered_report_file(&shared, &Filters::default(), "cohort_retention.csv").await;
    let same_set = Filters {
        event_types: vec!["dashboard_access".into(), "login".into(), "login".into()],
        ..Filters::default()
    };
    assert_eq!(
        filtered_report_file(&shared, &same_set, "cohort_retention.csv").await,
        summary
    );
    let through_events = Filters {
        event_types: vec![
            "login".into(),
            "dashboard_access".into(),
            "no_such_type".into(),
        ],
        ..Filters::default()
    };
    assert_eq!(
        filtered_report_file(&shared, &through_events, "cohort_retention.csv").await,
        summary,
        "the clean events and the summary disagree"
    );
    assert!(summary.len() > 10, "{summary:?}");
}
