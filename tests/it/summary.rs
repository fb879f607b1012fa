//! `user_events_summary` computed by its purpose-built operator (`src/engine/summary.rs`)
//! agrees with its SQL definition: on random snapshots full of what the checks look for,
//! and whole reports on generated snapshots.

use std::sync::Arc;

use proptest::prelude::*;
use snapmetrics::datafusion::arrow::array::{
    ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray,
};
use snapmetrics::datafusion::arrow::datatypes::DataType;
use snapmetrics::engine::session::{ComputedBy, Session, SessionOptions};

use crate::fixtures::{Fixture, all_files, batch, csv, ts_utc, us, users};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One user_events row: id, user_id, event_type, event_timestamp, metadata.
type EventRow = (
    Option<i64>,
    Option<i64>,
    Option<&'static str>,
    Option<i64>,
    Option<&'static str>,
);

fn event_file(rows: &[EventRow]) -> snapmetrics::datafusion::arrow::array::RecordBatch {
    let column = |values: Vec<Option<i64>>| Arc::new(Int64Array::from(values)) as ArrayRef;
    batch(
        vec![
            ("id", DataType::Int64),
            ("user_id", DataType::Int64),
            ("event_type", DataType::Utf8),
            ("event_timestamp", ts_utc()),
            ("metadata", DataType::Utf8),
        ],
        vec![
            column(rows.iter().map(|r| r.0).collect()),
            column(rows.iter().map(|r| r.1).collect()),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
        ],
    )
}

/// Instants around the snapshot's months, its `as_of` (the end of 2026-06-30) and the
/// zones' daylight-saving changes, a few hours either side.
fn instant() -> impl Strategy<Value = Option<i64>> {
    let anchors = [
        "2026-01-01T00:00:00Z",
        "2026-03-08T07:00:00Z",
        "2026-03-29T01:00:00Z",
        "2026-04-05T15:00:00Z",
        "2026-05-31T23:30:00Z",
        "2026-06-29T22:00:00Z",
        "2026-06-30T23:59:59Z",
        "2026-10-04T15:00:00Z",
    ];
    prop_oneof![
        1 => Just(None),
        12 => (0..anchors.len(), -30i64..30).prop_map(move |(a, hours)| {
            Some(us(anchors[a]) + hours * 3_600_000_000 + hours.rem_euclid(7) * 60_000_000)
        }),
    ]
}

fn event() -> impl Strategy<Value = EventRow> {
    (
        prop_oneof![1 => Just(None), 12 => (0i64..60).prop_map(Some)],
        prop_oneof![1 => Just(None), 12 => (-3i64..30).prop_map(Some)],
        prop_oneof![
            1 => Just(None),
            4 => Just(Some("login")),
            3 => Just(Some("dashboard_access")),
            3 => Just(Some("transfer")),
        ],
        instant(),
        prop_oneof![Just(None), Just(Some("a")), Just(Some("b"))],
    )
}

/// Signup times by user: ids 1 to 24 with gaps and repeats.
fn signups() -> impl Strategy<Value = Vec<(i64, i64)>> {
    proptest::collection::vec((1i64..25, 0usize..4, -40i64..40), 0..24).prop_map(|rows| {
        let days = [
            "2026-01-05T10:00:00Z",
            "2026-03-28T23:30:00Z",
            "2026-04-01T00:00:00Z",
            "2026-06-15T12:00:00Z",
        ];
        rows.into_iter()
            .map(|(id, d, hours)| (id, us(days[d]) + hours * 3_600_000_000))
            .collect()
    })
}

async fn summary(session: &Session) -> Vec<String> {
    csv(
        session,
        "SELECT * FROM user_events_summary ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
    )
    .await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn operator_agrees_with_the_definition(
        signups in signups(),
        files in proptest::collection::vec(proptest::collection::vec(event(), 0..120), 1..4),
        zone in prop_oneof![
            Just("UTC"), Just("Europe/London"), Just("America/New_York"),
            Just("Australia/Lord_Howe"),
        ],
    ) {
        let f = Fixture::new("2026-06-30");
        f.with_empty_tables();
        let created: Vec<String> = signups
            .iter()
            .map(|(_, at)| {
                chrono::DateTime::from_timestamp_micros(*at)
                    .expect("instant")
                    .to_rfc3339()
            })
            .collect();
        let rows: Vec<(i64, &str, Option<bool>)> = signups
            .iter()
            .zip(&created)
            .map(|((id, _), at)| (*id, at.as_str(), Some(true)))
            .collect();
        f.write("users.parquet", &users(&rows));
        std::fs::remove_file(f.snapshot_dir().join("user_events.parquet")).expect("remove");
        for (n, rows) in files.iter().enumerate() {
            f.write(&format!("user_events/part-{n}.parquet"), &event_file(rows));
        }
        let tz = snapmetrics::engine::time::parse_zone(zone).expect("zone");
        let (fast, defined) = runtime().block_on(async {
            let open = |definitions_only| f.open(SessionOptions { tz, definitions_only, ..SessionOptions::default() });
            let fast = open(false).await.expect("opens");
            let defined = open(true).await.expect("opens");
            let rows = (summary(&fast).await, summary(&defined).await);
            assert_eq!(fast.computed_by("user_events_summary").await, Some(ComputedBy::Operator));
            assert_eq!(defined.computed_by("user_events_summary").await, Some(ComputedBy::Definition));
            rows
        });
        prop_assert!(fast.len() > 1 || files.iter().all(Vec::is_empty), "{fast:?}");
        prop_assert_eq!(fast, defined);
    }
}

/// Every report file is the same whichever computes the summary, on generated snapshots
/// in the generator's layout and an append-only export's, in two zones.
#[tokio::test]
async fn reports_agree_on_generated_snapshots() {
    use snapmetrics::generate::{GenerateOptions, Layout, generate};

    for (users, seed, zone, layout) in [
        (300, 11, "UTC", Layout::Generator),
        (500, 12, "America/New_York", Layout::AppendOnly),
    ] {
        let f = Fixture::new("2026-06-30");
        std::fs::remove_dir_all(f.snapshot_dir()).expect("clear");
        generate(
            &f.snapshot_dir(),
            &GenerateOptions {
                layout,
                ..GenerateOptions::new(users, seed)
            },
            &|_| {},
        )
        .expect("generates");
        let tz = snapmetrics::engine::time::parse_zone(zone).expect("zone");
        let mut reports = Vec::new();
        for definitions_only in [false, true] {
            let session = f
                .open(SessionOptions {
                    tz,
                    definitions_only,
                    ..SessionOptions::default()
                })
                .await
                .expect("opens");
            let out = tempfile::tempdir().expect("temp");
            snapmetrics::output::report::write(
                &session,
                &Default::default(),
                &out.path().join("report"),
                &[],
            )
            .await
            .expect("report");
            let by = session.computed_by("user_events_summary").await;
            let expected = match definitions_only {
                true => ComputedBy::Definition,
                false => ComputedBy::Operator,
            };
            assert_eq!(by, Some(expected), "{users} users, {zone}");
            reports.push(all_files(&out.path().join("report")));
        }
        assert!(reports[0].len() >= 11, "{:?}", reports[0].len());
        assert!(
            reports[0] == reports[1],
            "{users} users, {zone}: the reports differ"
        );
    }
}

/// Ids too sparse for an array indexed by id: the view's plan computes the summary, and
/// says so.
#[tokio::test]
async fn sparse_user_ids_fall_back_to_the_definition() {
    let f = Fixture::new("2026-06-30");
    f.with_empty_tables();
    let far = 1_000_000_000_000;
    f.write(
        "users.parquet",
        &users(&[
            (1, "2026-03-02T09:00:00Z", None),
            (far, "2026-03-02T09:00:00Z", None),
        ]),
    );
    f.write(
        "user_events.parquet",
        &event_file(&[
            (
                Some(1),
                Some(1),
                Some("login"),
                Some(us("2026-03-03T10:00:00Z")),
                None,
            ),
            (
                Some(2),
                Some(far),
                Some("login"),
                Some(us("2026-03-01T10:00:00Z")),
                None,
            ),
            (
                Some(3),
                Some(far),
                Some("transfer"),
                Some(us("2026-03-04T10:00:00Z")),
                None,
            ),
        ]),
    );
    let session = f.session().await;
    assert_eq!(
        summary(&session).await,
        [
            "user_id,event_date,event_week,event_month,dq_check,events,engagement_events,logins",
            "1,2026-03-03,2026-03-02,2026-03-01,,1,1,1",
            "1000000000000,2026-03-01,2026-02-23,2026-03-01,before_signup_week,1,1,1",
            "1000000000000,2026-03-04,2026-03-02,2026-03-01,,1,0,0",
        ]
    );
    assert_eq!(
        session.computed_by("user_events_summary").await,
        Some(ComputedBy::Definition)
    );
}
