//! The heavy path, measured: each metric query, the summaries they read, opening a
//! session, the whole report, and the raw scan of the columns they read (the floor). Data comes from `generate`, cached under
//! `target/bench-data/users-<N>`; `SNAPMETRICS_BENCH_USERS` sets N (default 20000).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use snapmetrics::engine::session::{Session, SessionOptions};
use snapmetrics::generate::{GenerateOptions, generate};
use snapmetrics::metrics::METRICS;
use snapmetrics::source::snapshot::Snapshot;
use snapmetrics::source::store::Store;

const ID: &str = "2026-06-30";

/// What the metrics read from the big tables, aggregated so nothing is materialised.
const SCAN_FLOOR: &str = "SELECT count(*), max(user_id), max(event_timestamp), max(event_type), max(id) \
     FROM user_events \
     UNION ALL \
     SELECT count(*), max(length(tokenized_user_id)), max(created_at), max(account), max(id) \
     FROM l1_transaction_facts";

/// Computes both summaries every metric reads (once per session).
const SUMMARIES: &str = "SELECT (SELECT count(*) FROM user_events_summary) AS events, \
     (SELECT count(*) FROM transactions_summary) AS transactions";

fn users() -> u64 {
    std::env::var("SNAPMETRICS_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn store_dir(users: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("users-{users}"));
    if !dir.join(ID).join("_SUCCESS").exists() {
        let _ = std::fs::remove_dir_all(dir.join(ID));
        generate(&dir.join(ID), &GenerateOptions::new(users, 42), &|_| {})
            .expect("generate the bench snapshot");
    }
    dir
}

async fn open(dir: &std::path::Path) -> Session {
    let store = Store::open(&dir.display().to_string()).expect("store");
    let snapshot = Snapshot::open(&store, ID, false).await.expect("snapshot");
    Session::open(&store, snapshot, SessionOptions::default())
        .await
        .expect("session")
}

fn bench(c: &mut Criterion) {
    let users = users();
    let dir = store_dir(users);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let session = rt.block_on(open(&dir));
    let out = tempfile::tempdir().expect("temp");

    let mut group = c.benchmark_group(format!("users-{users}"));
    group.sample_size(10);
    group.bench_function("scan_floor", |b| {
        b.to_async(&rt).iter(|| async {
            let df = session.sql(SCAN_FLOOR).await.expect("plans");
            black_box(session.collect(df, "scan").await.expect("runs"))
        })
    });
    for metric in METRICS {
        group.bench_function(metric.name, |b| {
            b.to_async(&rt).iter(|| async {
                black_box(
                    snapmetrics::metrics::run(&session, metric.name, &Default::default())
                        .await
                        .expect("metric"),
                )
            })
        });
    }
    group.bench_function("open_session", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(open(&dir).await) })
    });
    // The metrics above read the summaries the shared session already keeps; computing
    // them is this minus open_session.
    group.bench_function("open_and_summaries", |b| {
        b.to_async(&rt).iter(|| async {
            let session = open(&dir).await;
            let df = session.sql(SUMMARIES).await.expect("plans");
            black_box(session.collect(df, "summaries").await.expect("runs"))
        })
    });
    group.bench_function("whole_report", |b| {
        b.to_async(&rt).iter(|| async {
            let session = open(&dir).await;
            snapmetrics::output::report::write(
                &session,
                &Default::default(),
                &out.path().join("report"),
                &[],
            )
            .await
            .expect("report")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
