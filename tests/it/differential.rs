//! Differential tests: the report's metrics recomputed in plain Rust, straight from the
//! snapshot's Parquet files (no SQL, no DataFusion session), and compared row by row;
//! and the generator's determinism, which makes such a comparison reproducible.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::iter;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc, Weekday};
use snapmetrics::datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use snapmetrics::datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use snapmetrics::engine::session::{Session, SessionOptions};
use snapmetrics::generate::{GenerateOptions, generate};
use snapmetrics::source::snapshot::Snapshot;
use snapmetrics::source::store::Store;

const SNAPSHOT_ID: &str = "2026-06-30";
const USERS: u64 = 400;
const SEED: u64 = 11;
/// The default engagement event set (`--event-types`).
const ENGAGEMENT_EVENT_TYPES: [&str; 2] = ["login", "dashboard_access"];

/// One CSV row, field by field, as the report writes it.
type Row = Vec<String>;

#[tokio::test]
async fn report_matches_a_plain_rust_computation() {
    let work = tempfile::tempdir().expect("temp dir");
    let store = work.path().join("store");
    let snapshot = store.join(SNAPSHOT_ID);
    generate(&snapshot, &GenerateOptions::new(USERS, SEED), &|_| {}).expect("snapshot generates");
    let report = work.path().join("report");
    write_report(&store, &report).await;

    assert_no_duplicates_or_nulls(&report);
    let facts = Facts::load(&snapshot);
    assert_report_file(
        &report,
        "cohort_retention.csv",
        "cohort_week,cohort_size,week_offset,retained_users,retention_rate,is_complete",
        &["retention_rate"],
        cohort_retention(&facts),
    );
    assert_report_file(
        &report,
        "activation.csv",
        "cohort_week,cohort_size,started_onboarding,completed_onboarding,completion_rate,\
         median_hours_to_complete",
        &["completion_rate", "median_hours_to_complete"],
        activation(&facts),
    );
    assert_report_file(
        &report,
        "onboarding_dropoff.csv",
        "cohort_week,step,reached_step,dropped_at_step",
        &[],
        onboarding_dropoff(&facts),
    );
    assert_report_file(
        &report,
        "vanity_monthly.csv",
        "month,total_users,new_users,mau,transactions,unique_banks,statement_uploads,is_complete",
        &[],
        vanity_monthly(&facts),
    );
    let activity = Activity::of(&facts);
    assert_report_file(
        &report,
        "cohort_retention_unbounded.csv",
        "cohort_week,cohort_size,week_offset,retained_users,retention_rate,is_complete",
        &["retention_rate"],
        cohort_retention_unbounded(&facts, &activity),
    );
    assert_report_file(
        &report,
        "cohort_retention_monthly.csv",
        "cohort_month,cohort_size,month_offset,retained_users,retention_rate,is_complete",
        &["retention_rate"],
        cohort_retention_monthly(&facts, &activity),
    );
    assert_report_file(
        &report,
        "retention_curve.csv",
        "week_offset,cohorts,cohort_users,retained_users,retention_rate",
        &["retention_rate"],
        retention_curve(&facts, &activity),
    );
    assert_report_file(
        &report,
        "lifecycle_weekly.csv",
        "week,active_users,new_users,returning_users,resurrecting_users,dormant_users,is_complete",
        &[],
        lifecycle_weekly(&facts, &activity),
    );
    assert_report_file(
        &report,
        "active_users_daily.csv",
        "date,dau,wau,mau_30d,is_complete",
        &[],
        active_users_daily(&facts, &activity),
    );
    assert_report_file(
        &report,
        "stickiness_monthly.csv",
        "month,days_active,users,users_at_least,is_complete",
        &[],
        stickiness_monthly(&facts, &activity),
    );
}

#[test]
fn generated_snapshots_are_deterministic() {
    let work = tempfile::tempdir().expect("temp dir");
    let generate_into = |name: &str, seed: u64| {
        let dir = work.path().join(name);
        generate(&dir, &GenerateOptions::new(USERS, seed), &|_| {}).expect("snapshot generates");
        dir
    };
    let first = generate_into("first", SEED);
    let second = generate_into("second", SEED);
    let other_seed = generate_into("other_seed", SEED + 1);

    let files = files_under(&first);
    assert_eq!(
        files,
        files_under(&second),
        "same seed, different file sets"
    );
    for file in &files {
        assert!(
            read_bytes(&first.join(file)) == read_bytes(&second.join(file)),
            "{} differs between two runs with seed {SEED}",
            file.display()
        );
    }
    let users = Path::new("users/part-00000.parquet");
    assert!(
        read_bytes(&first.join(users)) != read_bytes(&other_seed.join(users)),
        "seeds {SEED} and {} generate the same users",
        SEED + 1
    );
}

/// The append-only layout moves rows between and within files, never changes them: the
/// same seed gives the same rows per table, every report file but the manifest (which
/// hashes the input files) is byte-identical, and the events are in time order with ids
/// increasing with time.
#[tokio::test]
async fn append_only_layout_changes_the_files_not_the_report() {
    use snapmetrics::datafusion::parquet::basic::Compression;
    use snapmetrics::datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    use snapmetrics::generate::Layout;

    let work = tempfile::tempdir().expect("temp dir");
    let mut reports = Vec::new();
    let mut snapshots = Vec::new();
    for layout in [Layout::Generator, Layout::AppendOnly] {
        let store = work.path().join(format!("{layout:?}"));
        let snapshot = store.join(SNAPSHOT_ID);
        let options = GenerateOptions {
            layout,
            ..GenerateOptions::new(USERS, SEED)
        };
        generate(&snapshot, &options, &|_| {}).expect("snapshot generates");
        let report = work.path().join(format!("{layout:?}-report"));
        write_report(&store, &report).await;
        reports.push(report);
        snapshots.push(snapshot);
    }
    let [grouped, appended] = &snapshots[..] else {
        unreachable!("two layouts")
    };

    let files = files_under(&reports[0]);
    assert_eq!(files, files_under(&reports[1]), "the reports' file sets");
    for file in files.iter().filter(|f| !f.ends_with("manifest.json")) {
        assert!(
            read_bytes(&reports[0].join(file)) == read_bytes(&reports[1].join(file)),
            "{} differs between the layouts",
            file.display()
        );
    }
    assert_eq!(
        files_under(grouped),
        files_under(appended),
        "the layouts write the same files (and no run file is left behind)"
    );

    let mut months: Vec<PathBuf> = files_under(appended)
        .into_iter()
        .filter(|f| f.starts_with("user_events"))
        .collect();
    months.sort();
    assert!(months.len() > 3, "events span several months: {months:?}");
    let mut next_id = 1;
    let mut previous = (i64::MIN, i64::MIN);
    let (mut by_layout, mut rows_by_layout) = (Vec::new(), Vec::new());
    for snapshot in [grouped, appended] {
        let mut events = Vec::new();
        for month in &months {
            for batch in read_parquet(&snapshot.join(month)) {
                let ids = column(&batch, "id")
                    .as_primitive::<snapmetrics::datafusion::arrow::datatypes::Int64Type>();
                let users = column(&batch, "user_id")
                    .as_primitive::<snapmetrics::datafusion::arrow::datatypes::Int64Type>();
                let types = column(&batch, "event_type").as_string::<i32>();
                let times = column(&batch, "event_timestamp")
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .expect("event_timestamp is µs");
                let metadata = column(&batch, "metadata").as_string::<i32>();
                for i in 0..batch.num_rows() {
                    if snapshot == appended {
                        let key = (times.value(i), users.value(i));
                        assert!(
                            key >= previous,
                            "{}: row {i} out of time order",
                            month.display()
                        );
                        assert_eq!(
                            ids.value(i),
                            next_id,
                            "{}: ids increase with time",
                            month.display()
                        );
                        previous = key;
                        next_id += 1;
                    }
                    events.push((
                        users.value(i),
                        times.value(i),
                        types.value(i).to_string(),
                        metadata.is_valid(i).then(|| metadata.value(i).to_string()),
                    ));
                }
            }
        }
        let count = events.len();
        events.sort();
        by_layout.push(events);
        rows_by_layout.push(count);
    }
    assert_eq!(rows_by_layout[0], rows_by_layout[1], "event counts");
    assert!(
        by_layout[0] == by_layout[1],
        "the layouts hold different events"
    );

    for file in files_under(appended) {
        let path = appended.join(&file);
        if path.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let reader = SerializedFileReader::new(File::open(&path).expect("opens"))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for group in reader.metadata().row_groups() {
            for chunk in group.columns() {
                assert_eq!(
                    chunk.compression(),
                    Compression::SNAPPY,
                    "{}",
                    file.display()
                );
            }
        }
        let rows = |dir: &Path| -> usize {
            read_parquet(&dir.join(&file))
                .iter()
                .map(RecordBatch::num_rows)
                .sum()
        };
        assert_eq!(
            rows(grouped),
            rows(appended),
            "{}: row count",
            file.display()
        );
    }
}

async fn write_report(store: &Path, out: &Path) {
    let store = Store::open(store.to_str().expect("UTF-8 temp path")).expect("store opens");
    let snapshot = Snapshot::open(&store, SNAPSHOT_ID, false)
        .await
        .expect("snapshot opens");
    let session = Session::open(&store, snapshot, SessionOptions::default())
        .await
        .expect("session opens");
    snapmetrics::output::report::write(&session, &Default::default(), out, &[])
        .await
        .expect("report is written");
}

/// The generated data is clean. [`Facts::load`] re-implements the single-row exclusions
/// but not duplicate or NULL handling, so make sure the report had none of those to make.
fn assert_no_duplicates_or_nulls(report: &Path) {
    let not_reimplemented = [
        "duplicate_id",
        "null_required",
        "duplicate_user_id",
        "duplicate_token",
    ];
    let excluded: Vec<String> = read_lines(&report.join("data_quality.csv"))
        .into_iter()
        .skip(1)
        .filter(|line| {
            let [_, check, rows] = line.split(',').collect::<Vec<_>>()[..] else {
                panic!("data_quality.csv: malformed line '{line}'");
            };
            not_reimplemented.contains(&check) && rows != "0"
        })
        .collect();
    assert!(
        excluded.is_empty(),
        "the generated snapshot should be clean: {excluded:?}"
    );
}

/// Asserts that report `file` is `header` followed by `rows`. Counts, dates and flags must
/// match exactly; the 6-place `decimals` within 1e-6, because the report rounds through
/// `Decimal128(38, 6)` and `format!` rounds the binary value half to even.
fn assert_report_file(report: &Path, file: &str, header: &str, decimals: &[&str], rows: Vec<Row>) {
    let actual = read_lines(&report.join(file));
    let decimal_columns: Vec<usize> = header
        .split(',')
        .enumerate()
        .filter(|(_, column)| decimals.contains(column))
        .map(|(index, _)| index)
        .collect();
    let mut expected = vec![header.to_string()];
    for (index, mut row) in rows.into_iter().enumerate() {
        if let Some(reported) = actual.get(index + 1) {
            adopt_reported_rounding(&mut row, reported, &decimal_columns);
        }
        expected.push(row.join(","));
    }
    let first_difference = actual
        .iter()
        .zip(&expected)
        .position(|(a, e)| a != e)
        .map(|line| {
            format!(
                "line {}: report '{}', computed '{}'",
                line + 1,
                actual[line],
                expected[line]
            )
        });
    assert_eq!(
        actual,
        expected,
        "{file}: the report ({} lines) and the plain-Rust computation ({} lines) differ, \
         first at {}",
        actual.len(),
        expected.len(),
        first_difference
            .as_deref()
            .unwrap_or("the end of the shorter one")
    );
}

/// Replaces each computed decimal in `columns` by the `reported` one when the two are at
/// most a millionth apart, so that only real differences remain.
fn adopt_reported_rounding(row: &mut Row, reported: &str, columns: &[usize]) {
    let reported: Vec<&str> = reported.split(',').collect();
    for &column in columns {
        if let (Some(&reported), Some(computed)) = (reported.get(column), row.get_mut(column))
            && within_a_millionth(reported, computed)
        {
            *computed = reported.to_string();
        }
    }
}

/// Two 6-place decimals (or two empty fields) at most one millionth apart.
fn within_a_millionth(a: &str, b: &str) -> bool {
    match (millionths(a), millionths(b)) {
        (Some(a), Some(b)) => a.abs_diff(b) <= 1,
        _ => a.is_empty() && b.is_empty(),
    }
}

/// A 6-place decimal as a count of millionths: `"12.345678"` is 12345678.
fn millionths(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.')?;
    if fraction.len() != 6 {
        return None;
    }
    format!("{whole}{fraction}").parse().ok()
}

/// The rows the metrics count: a user not after `as_of`; events, transactions and
/// onboarding rows of those users that pass the single-row data-quality checks.
struct Facts {
    as_of: DateTime<Utc>,
    /// `users.id` -> `created_at`.
    users: BTreeMap<i64, DateTime<Utc>>,
    events: Vec<Event>,
    transactions: Vec<Transaction>,
    onboarding: Vec<Onboarding>,
}

struct Event {
    user_id: i64,
    event_type: String,
    at: DateTime<Utc>,
}

struct Transaction {
    user_id: i64,
    date: NaiveDate,
    account: Option<String>,
    created_at: DateTime<Utc>,
    upload_session_id: Option<String>,
}

struct Onboarding {
    user_id: i64,
    started_at: DateTime<Utc>,
    total_steps: i32,
    last_step_completed: i32,
    completed_at: Option<DateTime<Utc>>,
}

impl Facts {
    fn load(snapshot: &Path) -> Self {
        let as_of = manifest_as_of(snapshot);
        let users: BTreeMap<i64, DateTime<Utc>> = read_users(snapshot)
            .into_iter()
            .filter(|(_, created_at)| created_at.timestamp() >= 0 && *created_at <= as_of)
            .collect();
        // orphan_user_id and before_signup_week, in one test.
        let from_signup_week = |user_id: i64, at: DateTime<Utc>| {
            users
                .get(&user_id)
                .is_some_and(|created_at| week_of(at) >= week_of(*created_at))
        };
        let events = read_events(snapshot)
            .into_iter()
            .filter(|e| e.at <= as_of && from_signup_week(e.user_id, e.at))
            .collect();
        let transactions = read_transactions(snapshot)
            .into_iter()
            .filter(|t| t.date <= as_of.date_naive() && from_signup_week(t.user_id, t.created_at))
            .collect();
        let onboarding = read_onboarding(snapshot)
            .into_iter()
            .filter(|o| {
                users.contains_key(&o.user_id)
                    && o.started_at <= as_of
                    && (0..=1000).contains(&o.total_steps)
                    && (0..=o.total_steps).contains(&o.last_step_completed)
            })
            .collect();
        Facts {
            as_of,
            users,
            events,
            transactions,
            onboarding,
        }
    }

    /// Users by cohort week, every week from the first cohort to the last, empty ones too.
    fn cohorts(&self) -> BTreeMap<NaiveDate, Vec<i64>> {
        let mut cohorts: BTreeMap<NaiveDate, Vec<i64>> = BTreeMap::new();
        for (&id, &created_at) in &self.users {
            cohorts.entry(week_of(created_at)).or_default().push(id);
        }
        if let (Some(&first), Some(&last)) = (cohorts.keys().next(), cohorts.keys().next_back()) {
            for week in weeks(first, last) {
                cohorts.entry(week).or_default();
            }
        }
        cohorts
    }

    /// Whether the period ending at the start of `day` had ended by `as_of`.
    fn ended_by_as_of(&self, day: NaiveDate) -> bool {
        day.and_time(NaiveTime::MIN).and_utc() <= self.as_of
    }
}

fn cohort_retention(facts: &Facts) -> Vec<Row> {
    let engaged: HashSet<(i64, NaiveDate)> = facts
        .events
        .iter()
        .filter(|e| ENGAGEMENT_EVENT_TYPES.contains(&e.event_type.as_str()))
        .map(|e| (e.user_id, week_of(e.at)))
        .chain(
            facts
                .transactions
                .iter()
                .filter(|t| t.upload_session_id.is_some())
                .map(|t| (t.user_id, week_of(t.created_at))),
        )
        .collect();
    let last_week = week_of(facts.as_of);
    let mut rows = Vec::new();
    for (cohort, members) in facts.cohorts() {
        for (offset, week) in weeks(cohort, last_week).enumerate() {
            let retained = members
                .iter()
                .filter(|&&user| engaged.contains(&(user, week)))
                .count();
            rows.push(vec![
                cohort.to_string(),
                members.len().to_string(),
                offset.to_string(),
                retained.to_string(),
                rate(retained, members.len()),
                facts.ended_by_as_of(week + Days::new(7)).to_string(),
            ]);
        }
    }
    rows
}

fn activation(facts: &Facts) -> Vec<Row> {
    let onboarding = onboarding_by_user(facts);
    facts
        .cohorts()
        .into_iter()
        .map(|(cohort, members)| {
            let started: Vec<&Onboarding> = members
                .iter()
                .filter_map(|user| onboarding.get(user).copied())
                .collect();
            let hours_to_complete: Vec<f64> = started
                .iter()
                .filter_map(|o| {
                    let completed_at = o.completed_at?;
                    Some((completed_at - facts.users[&o.user_id]).as_seconds_f64() / 3600.0)
                })
                .collect();
            vec![
                cohort.to_string(),
                members.len().to_string(),
                started.len().to_string(),
                hours_to_complete.len().to_string(),
                rate(hours_to_complete.len(), members.len()),
                median(hours_to_complete).map(decimal).unwrap_or_default(),
            ]
        })
        .collect()
}

fn onboarding_dropoff(facts: &Facts) -> Vec<Row> {
    let onboarding = onboarding_by_user(facts);
    let max_steps = facts
        .onboarding
        .iter()
        .map(|o| o.total_steps)
        .max()
        .unwrap_or(0);
    let mut rows = Vec::new();
    for (cohort, members) in facts.cohorts() {
        let started: Vec<&Onboarding> = members
            .iter()
            .filter_map(|user| onboarding.get(user).copied())
            .collect();
        for step in 1..=max_steps {
            let reached = started
                .iter()
                .filter(|o| o.last_step_completed >= step)
                .count();
            let dropped = started
                .iter()
                .filter(|o| o.last_step_completed == step - 1 && o.completed_at.is_none())
                .count();
            rows.push(vec![
                cohort.to_string(),
                step.to_string(),
                reached.to_string(),
                dropped.to_string(),
            ]);
        }
    }
    rows
}

/// What happened in one calendar month.
#[derive(Default)]
struct Month<'a> {
    new_users: usize,
    logins: HashSet<i64>,
    transactions: usize,
    banks: HashSet<&'a str>,
    uploads: HashSet<&'a str>,
}

fn vanity_monthly(facts: &Facts) -> Vec<Row> {
    let mut months: BTreeMap<NaiveDate, Month> = BTreeMap::new();
    for created_at in facts.users.values() {
        months
            .entry(month_of(created_at.date_naive()))
            .or_default()
            .new_users += 1;
    }
    for event in facts.events.iter().filter(|e| e.event_type == "login") {
        months
            .entry(month_of(event.at.date_naive()))
            .or_default()
            .logins
            .insert(event.user_id);
    }
    for transaction in &facts.transactions {
        let month = months.entry(month_of(transaction.date)).or_default();
        month.transactions += 1;
        month.banks.extend(transaction.account.as_deref());
        if let Some(session) = &transaction.upload_session_id {
            months
                .entry(month_of(transaction.created_at.date_naive()))
                .or_default()
                .uploads
                .insert(session);
        }
    }

    let first_signup = facts.users.values().min().expect("the snapshot has users");
    let mut total_users = 0;
    calendar_months(
        month_of(first_signup.date_naive()),
        month_of(facts.as_of.date_naive()),
    )
    .map(|start| {
        let month = months.remove(&start).unwrap_or_default();
        total_users += month.new_users;
        vec![
            start.format("%Y-%m").to_string(),
            total_users.to_string(),
            month.new_users.to_string(),
            month.logins.len().to_string(),
            month.transactions.to_string(),
            month.banks.len().to_string(),
            month.uploads.len().to_string(),
            facts.ended_by_as_of(start + Months::new(1)).to_string(),
        ]
    })
    .collect()
}

/// The dates (UTC) on which each user engaged: an event of the default engagement set,
/// or a statement upload on the date of its `created_at`.
struct Activity {
    dates: BTreeMap<i64, BTreeSet<NaiveDate>>,
}

impl Activity {
    fn of(facts: &Facts) -> Self {
        let mut dates: BTreeMap<i64, BTreeSet<NaiveDate>> = BTreeMap::new();
        let events = facts
            .events
            .iter()
            .filter(|e| ENGAGEMENT_EVENT_TYPES.contains(&e.event_type.as_str()))
            .map(|e| (e.user_id, e.at));
        let uploads = facts
            .transactions
            .iter()
            .filter(|t| t.upload_session_id.is_some())
            .map(|t| (t.user_id, t.created_at));
        for (user, at) in events.chain(uploads) {
            dates.entry(user).or_default().insert(at.date_naive());
        }
        Activity { dates }
    }

    /// Whether `user` engaged on a date in `first..end`.
    fn active(&self, user: i64, first: NaiveDate, end: NaiveDate) -> bool {
        self.dates
            .get(&user)
            .is_some_and(|dates| dates.range(first..end).next().is_some())
    }

    /// The users who engaged on a date in `first..end`.
    fn users(&self, first: NaiveDate, end: NaiveDate) -> BTreeSet<i64> {
        self.dates
            .keys()
            .copied()
            .filter(|&user| self.active(user, first, end))
            .collect()
    }
}

fn cohort_retention_unbounded(facts: &Facts, activity: &Activity) -> Vec<Row> {
    let last_week = week_of(facts.as_of);
    let mut rows = Vec::new();
    for (cohort, members) in facts.cohorts() {
        for (offset, week) in weeks(cohort, last_week).enumerate() {
            let retained = members
                .iter()
                .filter(|&&user| activity.active(user, week, NaiveDate::MAX))
                .count();
            rows.push(vec![
                cohort.to_string(),
                members.len().to_string(),
                offset.to_string(),
                retained.to_string(),
                rate(retained, members.len()),
                facts.ended_by_as_of(week + Days::new(7)).to_string(),
            ]);
        }
    }
    rows
}

fn cohort_retention_monthly(facts: &Facts, activity: &Activity) -> Vec<Row> {
    let mut cohorts: BTreeMap<NaiveDate, Vec<i64>> = BTreeMap::new();
    for (&id, created_at) in &facts.users {
        cohorts
            .entry(month_of(created_at.date_naive()))
            .or_default()
            .push(id);
    }
    let (Some(&first), Some(&last)) = (cohorts.keys().next(), cohorts.keys().next_back()) else {
        return Vec::new();
    };
    let as_of_month = month_of(facts.as_of.date_naive());
    let mut rows = Vec::new();
    for cohort in calendar_months(first, last) {
        let members = cohorts.get(&cohort).map_or(&[][..], Vec::as_slice);
        for (offset, month) in calendar_months(cohort, as_of_month).enumerate() {
            let end = month + Months::new(1);
            let retained = members
                .iter()
                .filter(|&&user| activity.active(user, month, end))
                .count();
            rows.push(vec![
                cohort.format("%Y-%m").to_string(),
                members.len().to_string(),
                offset.to_string(),
                retained.to_string(),
                rate(retained, members.len()),
                facts.ended_by_as_of(end).to_string(),
            ]);
        }
    }
    rows
}

fn retention_curve(facts: &Facts, activity: &Activity) -> Vec<Row> {
    // week_offset -> (cohorts, cohort users, retained users), complete cells only.
    let mut offsets: BTreeMap<usize, (usize, usize, usize)> = BTreeMap::new();
    let last_week = week_of(facts.as_of);
    for (cohort, members) in facts.cohorts() {
        if members.is_empty() {
            continue;
        }
        for (offset, week) in weeks(cohort, last_week).enumerate() {
            if !facts.ended_by_as_of(week + Days::new(7)) {
                continue;
            }
            let end = week + Days::new(7);
            let retained = members
                .iter()
                .filter(|&&user| activity.active(user, week, end))
                .count();
            let cell = offsets.entry(offset).or_default();
            cell.0 += 1;
            cell.1 += members.len();
            cell.2 += retained;
        }
    }
    offsets
        .into_iter()
        .map(|(offset, (cohorts, users, retained))| {
            vec![
                offset.to_string(),
                cohorts.to_string(),
                users.to_string(),
                retained.to_string(),
                rate(retained, users),
            ]
        })
        .collect()
}

fn lifecycle_weekly(facts: &Facts, activity: &Activity) -> Vec<Row> {
    let first_signup = facts.users.values().min().expect("the snapshot has users");
    let all_weeks: Vec<NaiveDate> = weeks(week_of(*first_signup), week_of(facts.as_of)).collect();
    let active_in = |week: NaiveDate| activity.users(week, week + Days::new(7));
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let mut previous: BTreeSet<i64> = BTreeSet::new();
    let mut rows = Vec::new();
    for week in all_weeks {
        let active = active_in(week);
        let new = active.difference(&seen).count();
        let returning = active.intersection(&previous).count();
        let resurrecting = active
            .iter()
            .filter(|user| !previous.contains(user) && seen.contains(user))
            .count();
        let dormant = previous.difference(&active).count();
        rows.push(vec![
            week.to_string(),
            active.len().to_string(),
            new.to_string(),
            returning.to_string(),
            resurrecting.to_string(),
            dormant.to_string(),
            facts.ended_by_as_of(week + Days::new(7)).to_string(),
        ]);
        seen.extend(&active);
        previous = active;
    }
    rows
}

fn active_users_daily(facts: &Facts, activity: &Activity) -> Vec<Row> {
    let first_signup = facts.users.values().min().expect("the snapshot has users");
    first_signup
        .date_naive()
        .iter_days()
        .take_while(|day| *day <= facts.as_of.date_naive())
        .map(|day| {
            let next = day + Days::new(1);
            let within = |days: u64| activity.users(next - Days::new(days), next).len();
            vec![
                day.to_string(),
                within(1).to_string(),
                within(7).to_string(),
                within(30).to_string(),
                facts.ended_by_as_of(next).to_string(),
            ]
        })
        .collect()
}

fn stickiness_monthly(facts: &Facts, activity: &Activity) -> Vec<Row> {
    let first_signup = facts.users.values().min().expect("the snapshot has users");
    let mut rows = Vec::new();
    for month in calendar_months(
        month_of(first_signup.date_naive()),
        month_of(facts.as_of.date_naive()),
    ) {
        let end = month + Months::new(1);
        let active_dates: Vec<usize> = activity
            .dates
            .values()
            .map(|dates| dates.range(month..end).count())
            .filter(|&n| n > 0)
            .collect();
        let days_in_month = (end - month).num_days() as usize;
        for n in 1..=days_in_month {
            rows.push(vec![
                month.format("%Y-%m").to_string(),
                n.to_string(),
                active_dates.iter().filter(|&&d| d == n).count().to_string(),
                active_dates.iter().filter(|&&d| d >= n).count().to_string(),
                facts.ended_by_as_of(end).to_string(),
            ]);
        }
    }
    rows
}

/// The one onboarding row of each user that has one.
fn onboarding_by_user(facts: &Facts) -> HashMap<i64, &Onboarding> {
    facts.onboarding.iter().map(|o| (o.user_id, o)).collect()
}

/// Monday of the ISO week (UTC) that contains `at`.
fn week_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive().week(Weekday::Mon).first_day()
}

fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a first day")
}

/// Week starts from `first` to `last`, both included.
fn weeks(first: NaiveDate, last: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    iter::successors(Some(first), |week| Some(*week + Days::new(7)))
        .take_while(move |week| *week <= last)
}

/// Month starts from `first` to `last`, both included.
fn calendar_months(first: NaiveDate, last: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    iter::successors(Some(first), |month| Some(*month + Months::new(1)))
        .take_while(move |month| *month <= last)
}

fn rate(part: usize, whole: usize) -> String {
    if whole == 0 {
        String::new()
    } else {
        decimal(part as f64 / whole as f64)
    }
}

fn decimal(value: f64) -> String {
    format!("{value:.6}")
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

fn manifest_as_of(snapshot: &Path) -> DateTime<Utc> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&read_bytes(&snapshot.join("_manifest.json")))
            .expect("_manifest.json is JSON");
    let exported_at = manifest["exported_at"]
        .as_str()
        .expect("_manifest.json has exported_at");
    DateTime::parse_from_rfc3339(exported_at)
        .expect("exported_at is RFC 3339")
        .to_utc()
}

fn read_users(snapshot: &Path) -> Vec<(i64, DateTime<Utc>)> {
    let mut users = Vec::new();
    for batch in read_table(snapshot, "users") {
        let id = int64s(&batch, "id");
        let created_at = timestamps(&batch, "created_at");
        for row in 0..batch.num_rows() {
            users.push((id.value(row), required_instant(created_at, row)));
        }
    }
    users
}

fn read_events(snapshot: &Path) -> Vec<Event> {
    let mut events = Vec::new();
    for batch in read_table(snapshot, "user_events") {
        let user_id = int64s(&batch, "user_id");
        let event_type = strings(&batch, "event_type");
        let at = timestamps(&batch, "event_timestamp");
        for row in 0..batch.num_rows() {
            events.push(Event {
                user_id: user_id.value(row),
                event_type: event_type.value(row).to_string(),
                at: required_instant(at, row),
            });
        }
    }
    events
}

/// `transactions_all`: `l1_transaction_facts` with each token mapped to its user through
/// `l0_user_tokenization`; a fact with an unmapped token is left out.
fn read_transactions(snapshot: &Path) -> Vec<Transaction> {
    let mut users_by_token = HashMap::new();
    for batch in read_table(snapshot, "l0_user_tokenization") {
        let user_id = int64s(&batch, "internal_user_id");
        let token = strings(&batch, "tokenized_user_id");
        for row in 0..batch.num_rows() {
            users_by_token.insert(token.value(row).to_string(), user_id.value(row));
        }
    }

    let mut transactions = Vec::new();
    for batch in read_table(snapshot, "l1_transaction_facts") {
        let token = strings(&batch, "tokenized_user_id");
        let date = dates(&batch, "transaction_date");
        let account = strings(&batch, "account");
        let created_at = timestamps(&batch, "created_at");
        let upload_session_id = strings(&batch, "upload_session_id");
        for row in 0..batch.num_rows() {
            let Some(&user_id) = users_by_token.get(token.value(row)) else {
                continue;
            };
            transactions.push(Transaction {
                user_id,
                date: date.value_as_date(row).expect("transaction_date in range"),
                account: text(account, row),
                created_at: required_instant(created_at, row),
                upload_session_id: text(upload_session_id, row),
            });
        }
    }
    transactions
}

fn read_onboarding(snapshot: &Path) -> Vec<Onboarding> {
    let mut onboarding = Vec::new();
    for batch in read_table(snapshot, "onboarding_responses") {
        let user_id = int64s(&batch, "user_id");
        let started_at = timestamps(&batch, "started_at");
        let total_steps = int32s(&batch, "total_steps");
        let last_step_completed = int32s(&batch, "last_step_completed");
        let completed_at = timestamps(&batch, "completed_at");
        for row in 0..batch.num_rows() {
            onboarding.push(Onboarding {
                user_id: user_id.value(row),
                started_at: required_instant(started_at, row),
                total_steps: total_steps.value(row),
                last_step_completed: last_step_completed.value(row),
                completed_at: instant(completed_at, row),
            });
        }
    }
    onboarding
}

/// Every batch of `table`: `<snapshot>/<table>.parquet`, or every Parquet file below
/// `<snapshot>/<table>/`.
fn read_table(snapshot: &Path, table: &str) -> Vec<RecordBatch> {
    let single = snapshot.join(format!("{table}.parquet"));
    let files: Vec<PathBuf> = if single.is_file() {
        vec![single]
    } else {
        let dir = snapshot.join(table);
        files_under(&dir)
            .into_iter()
            .filter(|file| file.extension().is_some_and(|ext| ext == "parquet"))
            .map(|file| dir.join(file))
            .collect()
    };
    assert!(!files.is_empty(), "no Parquet files for table {table}");
    files.iter().flat_map(|file| read_parquet(file)).collect()
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", batch.schema()))
}

fn int64s<'a>(batch: &'a RecordBatch, name: &str) -> &'a Int64Array {
    column(batch, name).as_primitive()
}

fn int32s<'a>(batch: &'a RecordBatch, name: &str) -> &'a Int32Array {
    column(batch, name).as_primitive()
}

fn dates<'a>(batch: &'a RecordBatch, name: &str) -> &'a Date32Array {
    column(batch, name).as_primitive()
}

fn timestamps<'a>(batch: &'a RecordBatch, name: &str) -> &'a TimestampMicrosecondArray {
    column(batch, name).as_primitive()
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    column(batch, name).as_string()
}

fn instant(array: &TimestampMicrosecondArray, row: usize) -> Option<DateTime<Utc>> {
    array.is_valid(row).then(|| {
        array
            .value_as_datetime(row)
            .expect("timestamp in range")
            .and_utc()
    })
}

fn required_instant(array: &TimestampMicrosecondArray, row: usize) -> DateTime<Utc> {
    instant(array, row).expect("required timestamp is not null")
}

fn text(array: &StringArray, row: usize) -> Option<String> {
    array.is_valid(row).then(|| array.value(row).to_string())
}

/// Every file below `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(dir.join(&folder))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(&folder).display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            let path = folder.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_lines(path: &Path) -> Vec<String> {
    String::from_utf8(read_bytes(path))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}
