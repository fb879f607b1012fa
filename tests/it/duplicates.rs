//! `duplicates::find` against the aggregate that defines it, on tables split into files.
//!
//! `find_with_limit(.., n)` turns the bitmap off and allows `n` remembered ids: with 0 the
//! method can only answer without counting (no repeats, or the sort-preserving merge), so
//! it tells which path a table takes. `find_bitmap` allows only the bitmap.

use std::sync::Arc;

use snapmetrics::datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use snapmetrics::datafusion::arrow::datatypes::{DataType, Int64Type};
use snapmetrics::datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use snapmetrics::engine::duplicates::{Limits, find, find_with};
use tempfile::TempDir;

use crate::fixtures::{
    Fixture, batch, csv, events, onboarding, report_file, transactions, users, write_parquet,
};

/// A table `t` of one Parquet file per element of `files` (read in that order), each with
/// the given ids and a second column the scans must not need.
struct Table {
    _dir: TempDir,
    ctx: SessionContext,
}

impl Table {
    async fn new(files: &[Vec<Option<i64>>]) -> Self {
        Self::with_config(files, SessionConfig::new().with_target_partitions(2)).await
    }

    async fn with_config(files: &[Vec<Option<i64>>], config: SessionConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (i, ids) in files.iter().enumerate() {
            let n = ids.len() as i64;
            let rows = batch(
                vec![("id", DataType::Int64), ("payload", DataType::Int64)],
                vec![
                    Arc::new(Int64Array::from(ids.clone())),
                    Arc::new(Int64Array::from_iter_values(0..n)),
                ],
            );
            write_parquet(&dir.path().join(format!("part-{i:04}.parquet")), &rows);
        }
        let ctx = SessionContext::new_with_config(config);
        let path = dir.path().to_str().expect("utf-8 path");
        ctx.register_parquet("t", path, ParquetReadOptions::default())
            .await
            .expect("register");
        Table { _dir: dir, ctx }
    }

    /// The definition: the aggregate the session falls back to.
    async fn aggregate(&self) -> Vec<i64> {
        let sql = "SELECT id FROM t WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1 \
                   ORDER BY id";
        let batches = self
            .ctx
            .sql(sql)
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        ids(&batches)
    }

    async fn find(&self) -> Option<Vec<i64>> {
        find(&self.ctx, "t").await.expect("find")
    }

    async fn find_with_limit(&self, limit: usize) -> Option<Vec<i64>> {
        find_with_limit(&self.ctx, "t", limit).await
    }

    /// Only the bitmap may answer (over at most `span` ids), no merge and no counting.
    async fn find_bitmap(&self, span: u64) -> Option<Vec<i64>> {
        let limits = Limits {
            remembered: Limits::default().remembered,
            bitmap_span: span,
        };
        find_with(&self.ctx, "t", limits).await.expect("find_with")
    }
}

/// The method without its bitmap, remembering at most `limit` ids.
async fn find_with_limit(ctx: &SessionContext, table: &str, limit: usize) -> Option<Vec<i64>> {
    let limits = Limits {
        remembered: limit,
        bitmap_span: 0,
    };
    find_with(ctx, table, limits).await.expect("find_with")
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_primitive::<Int64Type>();
            assert_eq!(column.null_count(), 0);
            column.values().to_vec()
        })
        .collect()
}

fn file(ids: &[i64]) -> Vec<Option<i64>> {
    ids.iter().copied().map(Some).collect()
}

/// splitmix64: a tiny deterministic generator, enough to shuffle test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

#[tokio::test]
async fn increasing_disjoint_files_have_no_repeats() {
    let t = Table::new(&[file(&[1, 2, 5]), file(&[6, 9]), file(&[10, 11, 40])]).await;
    assert_eq!(t.aggregate().await, Vec::<i64>::new());
    assert_eq!(t.find().await, Some(vec![]));
    // Nothing to remember or count: answered even with no room at all.
    assert_eq!(t.find_with_limit(0).await, Some(vec![]));
}

#[tokio::test]
async fn repeat_across_increasing_overlapping_files_is_merged() {
    let t = Table::new(&[file(&[1, 3, 5, 7]), file(&[2, 5, 6, 8]), file(&[20, 21])]).await;
    assert_eq!(t.aggregate().await, vec![5]);
    assert_eq!(t.find().await, Some(vec![5]));
    // No candidates, only overlapping ranges: the merge answers without counting.
    assert_eq!(t.find_with_limit(0).await, Some(vec![5]));
    // The overlap 2..=7 fits a bitmap of 6 ids, not one of 5.
    assert_eq!(t.find_bitmap(6).await, Some(vec![5]));
}

#[tokio::test]
async fn bitmap_marks_repeats_in_a_dense_span() {
    // Unsorted, overlapping, an id three times and one across files.
    let t = Table::new(&[file(&[10, 3, 7, 3, 12]), file(&[8, 3, 12, 1])]).await;
    assert_eq!(t.aggregate().await, vec![3, 12]);
    assert_eq!(t.find_bitmap(12).await, Some(vec![3, 12]));
    // Ids at the ends of the i64 range: the span is too wide for any bitmap.
    let t = Table::new(&[file(&[i64::MIN, 5, i64::MAX]), file(&[5, i64::MAX])]).await;
    assert_eq!(t.aggregate().await, vec![5, i64::MAX]);
    assert_eq!(t.find_with_limit(10).await, Some(vec![5, i64::MAX]));
    assert_eq!(t.find().await, Some(vec![5, i64::MAX]));
}

#[tokio::test]
async fn repeat_out_of_order_within_a_file_is_counted() {
    let t = Table::new(&[file(&[4, 9, 2, 4, 7]), file(&[10, 12])]).await;
    assert_eq!(t.aggregate().await, vec![4]);
    assert_eq!(t.find().await, Some(vec![4]));
    // Candidates (2, 4, 7) must be counted: with no room the method gives up.
    assert_eq!(t.find_with_limit(0).await, None);
    assert_eq!(t.find_with_limit(3).await, Some(vec![4]));
}

#[tokio::test]
async fn null_ids_are_never_reported() {
    let cases = [
        // Two NULLs in one file, the rest increasing and disjoint.
        vec![vec![Some(1), None, Some(2), None], file(&[3, 4])],
        // NULLs in two files, increasing overlapping files (merge path).
        vec![vec![None, Some(1), Some(5)], vec![Some(2), None, Some(5)]],
        // NULLs next to a counted repeat.
        vec![vec![Some(3), None, Some(1), Some(3), None], vec![None]],
        // Only NULLs.
        vec![vec![None, None], vec![None]],
    ];
    for files in cases {
        let t = Table::new(&files).await;
        let expected = t.aggregate().await;
        assert_eq!(t.find().await, Some(expected), "{files:?}");
    }
}

/// About eight files of ids drawn from a small range, in random order, so ids repeat
/// within and across files.
fn random_files(rng: &mut Rng) -> Vec<Vec<Option<i64>>> {
    let files = 6 + rng.below(5);
    (0..files)
        .map(|_| {
            let len = rng.below(40);
            (0..len).map(|_| Some(rng.below(120) as i64)).collect()
        })
        .collect()
}

#[tokio::test]
async fn random_order_gives_up_under_a_small_limit() {
    let mut rng = Rng(0x5EED);
    let files = random_files(&mut rng);
    let t = Table::new(&files).await;
    let expected = t.aggregate().await;
    assert!(!expected.is_empty(), "the data repeats ids");
    assert_eq!(t.find_with_limit(4).await, None);
    assert_eq!(t.find_with_limit(10_000).await, Some(expected.clone()));
    assert_eq!(t.find_bitmap(1 << 20).await, Some(expected.clone()));
    assert_eq!(t.find().await, Some(expected));
}

/// Random tables mixing strictly increasing, sorted-with-repeats and shuffled files
/// (every file strictly increasing for one seed in four), NULLs, empty files and extreme
/// ids, read in small batches; every answer `find` gives is the aggregate's.
#[tokio::test]
async fn random_tables_match_the_aggregate() {
    let mut answered = 0;
    let mut gave_up = 0;
    let mut merged = 0;
    let mut bitmapped = 0;
    for seed in 0..32u64 {
        let mut rng = Rng(seed);
        let all_increasing = seed % 4 == 0;
        let files = 2 + rng.below(7);
        let span = 10 + rng.below(300);
        let mut table = Vec::new();
        for _ in 0..files {
            let base = rng.below(span) as i64;
            let len = rng.below(30);
            let mut ids: Vec<Option<i64>> = (0..len)
                .map(|_| match rng.below(40) {
                    0 => None,
                    1 => Some(i64::MIN),
                    2 => Some(i64::MAX),
                    _ => Some(base + rng.below(span) as i64),
                })
                .collect();
            match if all_increasing { 0 } else { rng.below(3) } {
                0 => {
                    // Strictly increasing (NULLs kept where they fall).
                    let mut values: Vec<i64> = ids.iter().flatten().copied().collect();
                    values.sort_unstable();
                    values.dedup();
                    let mut values = values.into_iter();
                    ids = ids
                        .iter()
                        .filter_map(|id| match id {
                            None => Some(None),
                            Some(_) => values.next().map(Some),
                        })
                        .collect();
                }
                1 => ids.sort_unstable_by_key(|id| id.unwrap_or(i64::MIN)),
                _ => rng.shuffle(&mut ids),
            }
            table.push(ids);
        }
        let batch_size = 1 + rng.below(8) as usize;
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_batch_size(batch_size);
        let t = Table::with_config(&table, config).await;
        let expected = t.aggregate().await;
        let limit = [0, 3, 20, Limits::default().remembered][rng.below(4) as usize];
        match t.find_with_limit(limit).await {
            Some(found) => {
                assert_eq!(found, expected, "seed {seed}, limit {limit}: {table:?}");
                answered += 1;
            }
            None => gave_up += 1,
        }
        if all_increasing && !expected.is_empty() {
            // Only the merge can answer without room to count.
            assert_eq!(t.find_with_limit(0).await.as_ref(), Some(&expected));
            merged += 1;
        }
        if let Some(found) = t.find_bitmap(Limits::default().bitmap_span).await {
            assert_eq!(found, expected, "seed {seed}, bitmap: {table:?}");
            bitmapped += 1;
        }
        assert_eq!(t.find().await, Some(expected), "seed {seed}: {table:?}");
    }
    assert!(
        answered > 0 && gave_up > 0,
        "{answered} answered, {gave_up} gave up"
    );
    assert!(merged > 0, "no table took the merge");
    assert!(bitmapped > 0, "no table took the bitmap");
}

/// More files than scan partitions (256): files share a partition.
#[tokio::test]
async fn many_files_share_partitions() {
    let mut rng = Rng(7);
    let files: Vec<Vec<Option<i64>>> = (0..300)
        .map(|i| match i % 3 {
            // Increasing runs that overlap their neighbours' ranges now and then.
            0 | 1 => file(&[i * 10, i * 10 + 5 + rng.below(20) as i64]),
            _ => file(&[rng.below(3_000) as i64]),
        })
        .collect();
    let t = Table::new(&files).await;
    let expected = t.aggregate().await;
    assert!(!expected.is_empty(), "the data repeats ids");
    assert_eq!(t.find().await, Some(expected));
}

/// Through a session: `user_events` in two increasing files that share one id.
#[tokio::test]
async fn session_counts_a_repeat_across_files_once() {
    let f = Fixture::new("2026-02-18");
    f.write_bytes(
        "_manifest.json",
        br#"{"exported_at": "2026-02-18T12:00:00Z"}"#,
    );
    f.write(
        "users.parquet",
        &users(&[
            (1, "2026-02-02T10:00:00Z", Some(true)),
            (2, "2026-02-03T10:00:00Z", Some(true)),
        ]),
    );
    f.write(
        "user_events/part-0.parquet",
        &events(&[
            (1, 1, "login", "2026-02-04T10:00:00Z"),
            (3, 1, "login", "2026-02-05T10:00:00Z"),
            (5, 2, "login", "2026-02-06T10:00:00Z"),
        ]),
    );
    f.write(
        "user_events/part-1.parquet",
        &events(&[
            (2, 2, "login", "2026-02-04T11:00:00Z"),
            (3, 1, "login", "2026-02-07T10:00:00Z"), // duplicate id: the earlier copy stays
            (6, 2, "login", "2026-02-08T10:00:00Z"),
        ]),
    );
    f.write("onboarding_responses.parquet", &onboarding(&[]));
    f.write("transactions.parquet", &transactions(&[]));
    let session = f.session().await;

    // Increasing files with overlapping ranges: found by the merge, no counting.
    assert_eq!(
        find_with_limit(session.context(), "user_events", 0).await,
        Some(vec![3])
    );
    let count = csv(
        &session,
        "SELECT count(*) AS n FROM user_events_duplicate_ids",
    )
    .await;
    assert_eq!(count, ["n", "1"]);
    let found: Vec<String> = report_file(&session, "data_quality.csv")
        .await
        .into_iter()
        .filter(|line| !line.ends_with(",0"))
        .collect();
    assert_eq!(found, ["table,check,rows", "user_events,duplicate_id,1"]);
}
