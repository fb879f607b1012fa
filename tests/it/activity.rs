//! The activity metrics (lifecycle, active users, stickiness, on-or-after and monthly
//! retention, the retention curve) against tables computed by hand on one tiny snapshot.
//!
//! as_of = 2026-03-04T12:00:00Z (a Wednesday). Weeks (UTC, by their Monday) 01-05 to 03-02.
//! Engagement (login, dashboard_access, statement uploads) per user, by date and week:
//!
//! | user | signup (week)      | active dates                  | active weeks                 |
//! | ---- | ------------------ | ----------------------------- | ---------------------------- |
//! | 1    | 01-05 (01-05)      | 01-05 01-07 01-13 01-27 02-17 | 01-05 01-12 01-26 02-16      |
//! | 2    | 01-06 (01-05)      | 01-27 01-28 02-02             | 01-26 02-02                  |
//! | 3    | 01-31 23:30 (01-26)| 01-31 02-01 02-28             | 01-26 02-23                  |
//! | 4    | 02-10 (02-09)      | 02-11 (upload) 03-03          | 02-09 03-02                  |
//!
//! User 2's first activity comes three weeks after signup (new in 01-26, not
//! resurrecting); user 1 is away one week (01-19), then three (02-02 to 02-09); user 3 is
//! active on the last day of January and of February. Rows that must not count: user 4's
//! feedback event, a later duplicate of user 2's 02-02 login (on 03-01), an orphan's login,
//! a login after as_of.

use snapmetrics::engine::session::{Filters, SessionOptions};

use crate::fixtures::{
    Fixture, csv, events, filtered_report_file, report_file, transactions, users,
};

fn snapshot() -> Fixture {
    let f = Fixture::new("2026-03-04");
    f.with_empty_tables();
    f.write_bytes(
        "_manifest.json",
        br#"{"exported_at": "2026-03-04T12:00:00Z"}"#,
    );
    f.write(
        "users.parquet",
        &users(&[
            (1, "2026-01-05T09:00:00Z", Some(true)),
            (2, "2026-01-06T10:00:00Z", Some(true)),
            (3, "2026-01-31T23:30:00Z", Some(false)),
            (4, "2026-02-10T08:00:00Z", None),
        ]),
    );
    f.write(
        "user_events.parquet",
        &events(&[
            (1, 1, "login", "2026-01-05T10:00:00Z"),
            (2, 1, "dashboard_access", "2026-01-07T08:00:00Z"),
            (3, 1, "login", "2026-01-13T12:00:00Z"),
            (4, 1, "login", "2026-01-27T12:00:00Z"),
            (5, 1, "login", "2026-02-17T12:00:00Z"),
            (6, 2, "login", "2026-01-27T15:00:00Z"),
            (7, 2, "login", "2026-01-28T09:00:00Z"),
            (8, 2, "login", "2026-02-02T09:00:00Z"),
            (8, 2, "login", "2026-03-01T09:00:00Z"), // duplicate id: the earlier copy stays
            (9, 3, "login", "2026-01-31T23:45:00Z"), // Saturday, last day of January
            (10, 3, "dashboard_access", "2026-02-01T00:10:00Z"), // Sunday: still week 01-26
            (11, 3, "login", "2026-02-28T22:00:00Z"), // last day of February
            (12, 4, "feedback", "2026-02-12T10:00:00Z"), // not engagement
            (13, 4, "login", "2026-03-03T10:00:00Z"),
            (14, 99, "login", "2026-02-20T10:00:00Z"), // orphan
            (15, 1, "login", "2026-03-05T10:00:00Z"),  // after as_of
        ]),
    );
    f.write(
        "transactions.parquet",
        &transactions(&[
            (
                1,
                4,
                "2026-02-11",
                Some("Monzo"),
                "2026-02-11T09:00:00Z",
                Some("s1"),
            ),
            (
                2,
                1,
                "2026-02-20",
                Some("Monzo"),
                "2026-02-20T09:00:00Z",
                None,
            ), // no upload
        ]),
    );
    f
}

#[tokio::test]
async fn lifecycle_weekly() {
    let f = snapshot();
    let session = f.session().await;
    assert_eq!(
        report_file(&session, "lifecycle_weekly.csv").await,
        [
            "week,active_users,new_users,returning_users,resurrecting_users,dormant_users,is_complete",
            "2026-01-05,1,1,0,0,0,true",
            "2026-01-12,1,0,1,0,0,true",
            "2026-01-19,0,0,0,0,1,true",
            "2026-01-26,3,2,0,1,0,true", // users 2 and 3 new, user 1 back
            "2026-02-02,1,0,1,0,2,true",
            "2026-02-09,1,1,0,0,1,true",
            "2026-02-16,1,0,0,1,1,true",
            "2026-02-23,1,0,0,1,1,true",
            "2026-03-02,1,0,0,1,1,false",
        ]
    );
}

/// `--from/--to` select weeks, dates and months, never users: the weeks before the first
/// selected one still decide who is returning, resurrecting or dormant in it.
#[tokio::test]
async fn from_and_to_cut_inside_the_history() {
    let f = snapshot();
    let session = f.session().await;
    let filters = Filters {
        from: "2026-02-04".parse().ok(),
        to: "2026-02-20".parse().ok(),
        ..Filters::default()
    };
    assert_eq!(
        filtered_report_file(&session, &filters, "lifecycle_weekly.csv").await[1..],
        [
            "2026-02-02,1,0,1,0,2,true",
            "2026-02-09,1,1,0,0,1,true",
            "2026-02-16,1,0,0,1,1,true",
        ]
    );
    let daily = filtered_report_file(&session, &filters, "active_users_daily.csv").await;
    assert_eq!(daily.len(), 1 + 17, "02-04 to 02-20: {daily:#?}");
    // The 30-day window of 02-11 reaches back to 01-13, before --from.
    assert_eq!(daily[1], "2026-02-04,0,2,3,true");
    assert_eq!(daily[8], "2026-02-11,1,1,4,true");
    let months: Vec<String> = filtered_report_file(&session, &filters, "stickiness_monthly.csv")
        .await
        .into_iter()
        .skip(1)
        .map(|row| row[..7].to_string())
        .collect();
    assert!(months.iter().all(|m| m == "2026-02"), "{months:?}");
    assert_eq!(months.len(), 28);
}

#[tokio::test]
async fn active_users_daily() {
    let f = snapshot();
    let session = f.session().await;
    let rows = report_file(&session, "active_users_daily.csv").await;
    assert_eq!(rows[0], "date,dau,wau,mau_30d,is_complete");
    // Every date from the first signup (01-05) to as_of's date (03-04).
    assert_eq!(rows.len(), 1 + 27 + 28 + 4, "{rows:#?}");
    let row = |date: &str| {
        rows.iter()
            .find(|row| row.starts_with(date))
            .unwrap_or_else(|| panic!("no row for {date}"))
            .as_str()
    };
    for expected in [
        "2026-01-05,1,1,1,true",
        "2026-01-06,0,1,1,true",
        "2026-01-11,0,1,1,true",
        "2026-01-12,0,1,1,true", // 01-07 is in 01-06 ..= 01-12
        "2026-01-20,0,0,1,true", // 01-14 ..= 01-20 is empty
        "2026-01-27,2,2,2,true",
        "2026-01-31,1,3,3,true",
        "2026-02-02,1,3,3,true",
        "2026-02-03,0,2,3,true", // user 1's 01-27 leaves the week, across the month end
        "2026-02-11,1,1,4,true",
        "2026-02-28,1,1,4,true",
        "2026-03-01,0,1,4,true", // the duplicate login on 03-01 does not count
        "2026-03-03,1,2,4,true",
        "2026-03-04,0,2,3,false", // user 2's 02-02 leaves the 30 days
    ] {
        assert_eq!(row(&expected[..10]), expected);
    }
    // Nobody was active between 01-14 and 01-26: the rolling week is empty from 01-20.
    for day in 20..=26 {
        assert_eq!(
            row(&format!("2026-01-{day}")),
            format!("2026-01-{day},0,0,1,true")
        );
    }
}

#[tokio::test]
async fn stickiness_monthly() {
    let f = snapshot();
    let session = f.session().await;
    let rows = report_file(&session, "stickiness_monthly.csv").await;
    assert_eq!(
        rows[0],
        "month,days_active,users,users_at_least,is_complete"
    );
    // Every day number of every month: January and March 31, February 28.
    assert_eq!(rows.len(), 1 + 31 + 28 + 31);
    let nonzero: Vec<&str> = rows[1..]
        .iter()
        .map(String::as_str)
        .filter(|row| !row.ends_with(",0,0,true") && !row.ends_with(",0,0,false"))
        .collect();
    assert_eq!(
        nonzero,
        [
            // January: user 3 on 1 date, user 2 on 2, user 1 on 4.
            "2026-01,1,1,3,true",
            "2026-01,2,1,2,true",
            "2026-01,3,0,1,true",
            "2026-01,4,1,1,true",
            // February: users 1, 2, 4 on 1 date, user 3 on 2.
            "2026-02,1,3,4,true",
            "2026-02,2,1,1,true",
            "2026-03,1,1,1,false",
        ]
    );
    assert_eq!(rows[28], "2026-01,28,0,0,true");
    assert_eq!(rows[31 + 28], "2026-02,28,0,0,true");
    assert_eq!(rows[31 + 28 + 31], "2026-03,31,0,0,false");
}

#[tokio::test]
async fn cohort_retention_monthly() {
    let f = snapshot();
    let session = f.session().await;
    // User 3 signed up on 01-31 23:30 UTC: January.
    assert_eq!(
        report_file(&session, "cohort_retention_monthly.csv").await,
        [
            "cohort_month,cohort_size,month_offset,retained_users,retention_rate,is_complete",
            "2026-01,3,0,3,1.000000,true",
            "2026-01,3,1,3,1.000000,true",
            "2026-01,3,2,0,0.000000,false",
            "2026-02,1,0,1,1.000000,true",
            "2026-02,1,1,1,1.000000,false",
        ]
    );
    // In New York user 3 signed up on 01-31 18:30 and was active on 01-31 (twice) and
    // 02-28 (17:00); user 4 stays in February.
    let tz = snapmetrics::engine::time::parse_zone("America/New_York").expect("zone");
    let session = f
        .open(SessionOptions {
            tz,
            ..SessionOptions::default()
        })
        .await
        .expect("opens");
    let stickiness = report_file(&session, "stickiness_monthly.csv").await;
    assert!(
        stickiness.contains(&"2026-01,1,1,3,true".to_string()),
        "{stickiness:#?}"
    );
    assert!(
        stickiness.contains(&"2026-02,1,4,4,true".to_string()),
        "user 3 is active on one February date in New York: {stickiness:#?}"
    );
}

#[tokio::test]
async fn on_or_after_retention_and_the_curve() {
    let f = snapshot();
    let session = f.session().await;
    let unbounded = report_file(&session, "cohort_retention_unbounded.csv").await;
    assert_eq!(
        unbounded[0],
        "cohort_week,cohort_size,week_offset,retained_users,retention_rate,is_complete"
    );
    // Last active weeks: user 1 02-16, user 2 02-02, user 3 02-23, user 4 03-02.
    let mut expected = Vec::new();
    let cohort = |week: &str, size: usize, retained: &[usize], expected: &mut Vec<String>| {
        for (k, r) in retained.iter().enumerate() {
            let rate = if size == 0 {
                String::new()
            } else {
                format!("{:.6}", *r as f64 / size as f64)
            };
            let complete = k + 1 < retained.len();
            expected.push(format!("{week},{size},{k},{r},{rate},{complete}"));
        }
    };
    cohort("2026-01-05", 2, &[2, 2, 2, 2, 2, 1, 1, 0, 0], &mut expected);
    cohort("2026-01-12", 0, &[0; 8], &mut expected);
    cohort("2026-01-19", 0, &[0; 7], &mut expected);
    cohort("2026-01-26", 1, &[1, 1, 1, 1, 1, 0], &mut expected);
    cohort("2026-02-02", 0, &[0; 5], &mut expected);
    cohort("2026-02-09", 1, &[1, 1, 1, 1], &mut expected);
    assert_eq!(unbounded[1..], expected);

    assert_eq!(
        report_file(&session, "retention_curve.csv").await,
        [
            "week_offset,cohorts,cohort_users,retained_users,retention_rate",
            "0,3,4,3,0.750000",
            "1,3,4,1,0.250000",
            "2,3,4,0,0.000000",
            "3,2,3,2,0.666667", // 02-09's cell at offset 3 is the current week
            "4,2,3,2,0.666667",
            "5,1,2,0,0.000000",
            "6,1,2,1,0.500000",
            "7,1,2,0,0.000000",
        ]
    );
}

/// `--active-only` removes user 3 (is_active false) from every activity count; user 4
/// (NULL) stays.
#[tokio::test]
async fn active_only_removes_inactive_users() {
    let f = snapshot();
    let session = f.session().await;
    let filters = Filters {
        active_only: true,
        ..Filters::default()
    };
    assert_eq!(
        filtered_report_file(&session, &filters, "lifecycle_weekly.csv").await[4..6],
        ["2026-01-26,2,1,0,1,0,true", "2026-02-02,1,0,1,0,1,true"]
    );
}

/// A week across a daylight-saving change: in Berlin, 2026-03-29T22:30Z is Monday 03-30
/// 00:30 (CEST, the clocks went forward that Sunday), so the login falls on the local
/// Monday, in the week of 03-30; in UTC it is the Sunday of the week before.
#[tokio::test]
async fn activity_moves_with_the_zone_across_a_dst_change() {
    let f = Fixture::new("2026-04-01");
    f.with_empty_tables();
    f.write_bytes(
        "_manifest.json",
        br#"{"exported_at": "2026-04-01T12:00:00Z"}"#,
    );
    f.write(
        "users.parquet",
        &users(&[(1, "2026-03-23T09:00:00Z", None)]),
    );
    f.write(
        "user_events.parquet",
        &events(&[
            (1, 1, "login", "2026-03-23T10:00:00Z"),
            (2, 1, "login", "2026-03-29T22:30:00Z"),
        ]),
    );
    let utc = f.session().await;
    assert_eq!(
        report_file(&utc, "lifecycle_weekly.csv").await[1..],
        ["2026-03-23,1,1,0,0,0,true", "2026-03-30,0,0,0,0,1,false"]
    );
    let daily = report_file(&utc, "active_users_daily.csv").await;
    assert!(
        daily.contains(&"2026-03-29,1,1,1,true".to_string()),
        "{daily:#?}"
    );

    let tz = snapmetrics::engine::time::parse_zone("Europe/Berlin").expect("zone");
    let berlin = f
        .open(SessionOptions {
            tz,
            ..SessionOptions::default()
        })
        .await
        .expect("opens");
    assert_eq!(
        report_file(&berlin, "lifecycle_weekly.csv").await[1..],
        ["2026-03-23,1,1,0,0,0,true", "2026-03-30,1,0,1,0,0,false"]
    );
    let daily = report_file(&berlin, "active_users_daily.csv").await;
    assert!(
        daily.contains(&"2026-03-29,0,1,1,true".to_string()),
        "{daily:#?}"
    );
    assert!(
        daily.contains(&"2026-03-30,1,1,1,true".to_string()),
        "{daily:#?}"
    );
}

/// The identities between the activity metrics, on generated snapshots of several sizes
/// and zones: they hold whatever the data, so a counting mistake in any one file shows.
#[tokio::test]
async fn identities_hold_on_generated_data() {
    use snapmetrics::engine::session::Session;
    use snapmetrics::generate::{GenerateOptions, generate};
    use snapmetrics::source::snapshot::Snapshot;
    use snapmetrics::source::store::Store;

    for (users, seed, zone) in [(60, 3, "UTC"), (400, 5, "Europe/Berlin"), (1500, 7, "UTC")] {
        let work = tempfile::tempdir().expect("temp");
        let root = work.path().join("store");
        generate(
            &root.join("2026-06-30"),
            &GenerateOptions::new(users, seed),
            &|_| {},
        )
        .expect("generates");
        let store = Store::open(root.to_str().expect("utf8")).expect("store");
        let snapshot = Snapshot::open(&store, "2026-06-30", false)
            .await
            .expect("snapshot");
        let tz = snapmetrics::engine::time::parse_zone(zone).expect("zone");
        let options = SessionOptions {
            tz,
            ..SessionOptions::default()
        };
        let session = Session::open(&store, snapshot, options)
            .await
            .expect("session");
        let context = format!("{users} users, seed {seed}, {zone}");
        let table = |rows: Vec<String>| -> Vec<Vec<String>> {
            rows.into_iter()
                .skip(1)
                .map(|row| row.split(',').map(str::to_string).collect())
                .collect()
        };
        let number = |field: &str| -> i64 {
            field
                .parse()
                .unwrap_or_else(|_| panic!("{context}: '{field}' is not a count"))
        };

        let lifecycle = table(report_file(&session, "lifecycle_weekly.csv").await);
        assert!(lifecycle.len() > 10, "{context}: {lifecycle:?}");
        let mut previous_active = 0;
        for week in &lifecycle {
            let [active, new, returning, resurrecting, dormant] =
                [1, 2, 3, 4, 5].map(|i| number(&week[i]));
            assert_eq!(
                active,
                new + returning + resurrecting,
                "{context}: {week:?}"
            );
            assert_eq!(previous_active, returning + dormant, "{context}: {week:?}");
            previous_active = active;
        }
        assert!(
            lifecycle.iter().any(|w| number(&w[4]) > 0),
            "{context}: nobody ever resurrects"
        );

        let daily = table(report_file(&session, "active_users_daily.csv").await);
        for day in &daily {
            let [dau, wau, mau] = [1, 2, 3].map(|i| number(&day[i]));
            assert!(dau <= wau && wau <= mau, "{context}: {day:?}");
        }
        assert!(daily.iter().any(|d| number(&d[1]) > 0), "{context}");

        let stickiness = table(report_file(&session, "stickiness_monthly.csv").await);
        let mut months = std::collections::BTreeMap::<String, Vec<(i64, i64)>>::new();
        for row in &stickiness {
            months
                .entry(row[0].clone())
                .or_default()
                .push((number(&row[2]), number(&row[3])));
        }
        // The month's active users by another route: straight from the clean rows.
        let active_per_month: std::collections::BTreeMap<String, i64> = csv(
            &session,
            &format!(
                "SELECT month, count(DISTINCT user_id) AS users FROM (
                     SELECT e.user_id, local_month(e.event_timestamp, '{zone}') AS month
                     FROM user_events_clean e JOIN users_clean u ON u.id = e.user_id
                     WHERE e.event_type IN ('login', 'dashboard_access')
                     UNION ALL
                     SELECT t.user_id, local_month(t.created_at, '{zone}') AS month
                     FROM transactions_clean t JOIN users_clean u ON u.id = t.user_id
                     WHERE t.upload_session_id IS NOT NULL
                 ) GROUP BY month"
            ),
        )
        .await
        .into_iter()
        .skip(1)
        .map(|row| {
            let (month, users) = row.split_once(',').expect("two columns");
            (month[..7].to_string(), number(users))
        })
        .collect();
        for (month, counts) in &months {
            let active = active_per_month.get(month).copied().unwrap_or(0);
            assert_eq!(counts[0].1, active, "{context}: {month} at n = 1");
            for pair in counts.windows(2) {
                assert!(pair[1].1 <= pair[0].1, "{context}: {month} rises");
                assert_eq!(pair[0].1 - pair[1].1, pair[0].0, "{context}: {month}");
            }
        }

        let on = table(report_file(&session, "cohort_retention.csv").await);
        let on_or_after = table(report_file(&session, "cohort_retention_unbounded.csv").await);
        assert_eq!(on.len(), on_or_after.len(), "{context}");
        for (index, (on, after)) in on.iter().zip(&on_or_after).enumerate() {
            assert_eq!(on[..3], after[..3], "{context}: the same cells");
            assert!(number(&after[3]) >= number(&on[3]), "{context}: {after:?}");
            if let Some(previous) = index.checked_sub(1).map(|i| &on_or_after[i])
                && previous[0] == after[0]
            {
                assert!(
                    number(&after[3]) <= number(&previous[3]),
                    "{context}: {after:?}"
                );
            }
        }

        let curve = table(report_file(&session, "retention_curve.csv").await);
        assert!(!curve.is_empty(), "{context}");
        for (k, row) in curve.iter().enumerate() {
            let cells: Vec<&Vec<String>> = on
                .iter()
                .filter(|c| number(&c[2]) == k as i64 && c[5] == "true" && c[1] != "0")
                .collect();
            let size: i64 = cells.iter().map(|c| number(&c[1])).sum();
            let retained: i64 = cells.iter().map(|c| number(&c[3])).sum();
            assert_eq!(row[0], k.to_string(), "{context}");
            assert_eq!(
                row[1..4],
                [
                    cells.len().to_string(),
                    size.to_string(),
                    retained.to_string()
                ],
                "{context}: offset {k}"
            );
            let rate: f64 = row[4].parse().expect("a rate");
            assert!(
                (rate - retained as f64 / size as f64).abs() <= 1e-6,
                "{context}: {row:?}"
            );
        }

        // Vanity months and stickiness months are the same months.
        let vanity = table(report_file(&session, "vanity_monthly.csv").await);
        let vanity_months: Vec<&String> = vanity.iter().map(|m| &m[0]).collect();
        assert_eq!(
            months.keys().collect::<Vec<_>>(),
            vanity_months,
            "{context}"
        );
    }
}
