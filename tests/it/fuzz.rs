//! Property tests: mutated Parquet bytes and random SQL-ish text never panic, and a
//! file that cannot be read is named.

use proptest::prelude::*;

use crate::fixtures::{Fixture, users};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn valid_users_file() -> Vec<u8> {
    let f = Fixture::new("x");
    let rows: Vec<(i64, String)> = (1..=300)
        .map(|i| (i, format!("2026-01-{:02}T08:00:00Z", 1 + i % 28)))
        .collect();
    let rows: Vec<(i64, &str, Option<bool>)> = rows
        .iter()
        .map(|(i, t)| (*i, t.as_str(), Some(i % 3 == 0)))
        .collect();
    f.write("users.parquet", &users(&rows));
    std::fs::read(f.snapshot_dir().join("users.parquet")).expect("read")
}

fn snapshot_files(f: &Fixture) -> Vec<String> {
    let mut files: Vec<String> = walk(f.dir.path());
    files.sort();
    files
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .flat_map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path)
                    } else {
                        vec![path.display().to_string()]
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mutated_parquet_is_read_or_named(
        cut in proptest::option::of(0usize..20_000),
        flips in proptest::collection::vec((0usize..20_000, 1u8..=255), 0..12),
    ) {
        let mut bytes = valid_users_file();
        for (at, mask) in flips {
            let n = bytes.len();
            bytes[at % n] ^= mask;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let f = Fixture::new("2026-01-31");
        f.with_empty_tables();
        f.write_bytes("users.parquet", &bytes);
        let outcome: Result<usize, String> = runtime().block_on(async {
            let session = f.open(Default::default()).await.map_err(|e| e.to_string())?;
            let df = session.sql("SELECT * FROM users").await.map_err(|e| e.to_string())?;
            let batches = session.collect(df, "query").await.map_err(|e| e.to_string())?;
            Ok(batches.iter().map(|b| b.num_rows()).sum())
        });
        if let Err(message) = outcome {
            prop_assert!(message.contains("users.parquet"), "error does not name the file: {message}");
        }
    }

    #[test]
    fn sql_like_input_never_panics_or_writes(
        head in prop_oneof![
            Just(""), Just("SELECT "), Just("COPY "), Just("CREATE "), Just("INSERT INTO "),
            Just("EXPLAIN "), Just("WITH x AS ("), Just("SELECT * FROM "),
        ],
        body in "[A-Za-z0-9_ ,*()'=<>;.:/-]{0,60}",
    ) {
        let f = Fixture::new("2026-01-31");
        f.with_empty_tables();
        let before = snapshot_files(&f);
        let sql = format!("{head}{body}");
        runtime().block_on(async {
            let session = f.session().await;
            if let Ok(df) = session.sql(&sql).await {
                let _ = session.collect(df, "query").await;
            }
        });
        prop_assert_eq!(snapshot_files(&f), before, "{} changed the store", sql);
    }
}
