//! `--cluster`: the same SQL on a real Ballista cluster — one scheduler and two executors,
//! each a `snapmetrics` process of its own on loopback ports — against the same query run
//! in-process, byte for byte. Without `--features cluster` only the refusal is tested.

use crate::fixtures::{command, stderr};

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

fn sample_store() -> String {
    format!("{}/data", env!("CARGO_MANIFEST_DIR"))
}

/// `sql --cluster CLUSTER "SELECT 1"` on the sample snapshot: its exit code and stderr.
fn select_one_on(cluster: &str) -> (Option<i32>, String) {
    let store = sample_store();
    let output = command(&["sql", "--store", &store, "--cluster", cluster, "SELECT 1"])
        .output()
        .expect("runs");
    (output.status.code(), stderr(&output))
}

#[cfg(not(feature = "cluster"))]
#[test]
fn a_build_without_the_feature_says_how_to_get_it() {
    let (code, message) = select_one_on(&format!("df://127.0.0.1:{}", free_port()));
    assert_eq!(code, Some(2), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(message.contains("--features cluster"), "{message}");
}

#[test]
fn a_cluster_that_is_not_a_url_is_refused() {
    let (code, message) = select_one_on("sched:50050");
    assert_eq!(code, Some(2), "{message}");
    assert!(message.contains("expected df://HOST:PORT"), "{message}");
}

#[cfg(feature = "cluster")]
mod on_a_cluster {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Stdio};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::fixtures::all_files;

    /// The cluster's processes, killed when the test ends however it ends.
    struct Cluster {
        scheduler: u16,
        /// The scheduler's log (at info: one line per job it takes).
        log: PathBuf,
        /// Scheduler first, then the executors.
        processes: Vec<Child>,
        _work: tempfile::TempDir,
    }

    impl Cluster {
        fn url(&self) -> String {
            format!("df://127.0.0.1:{}", self.scheduler)
        }

        fn kill_executor(&mut self, n: usize) {
            let executor = &mut self.processes[1 + n];
            executor.kill().expect("kill");
            executor.wait().expect("reaped");
        }

        /// Waits until the scheduler has taken `jobs` queries.
        fn wait_for_jobs(&self, jobs: usize) {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                if log.matches("Job submitted").count() >= jobs {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "the scheduler took no {jobs} jobs"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            for child in &mut self.processes {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// A role of the binary with `env` as its only `AWS_*` settings.
    fn spawn(args: &[&str], env: &[(&str, String)], log: Option<&Path>) -> Child {
        let mut command = command(args);
        for (name, _) in std::env::vars() {
            if name.starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null());
        match log {
            Some(path) => command
                .env("SNAPMETRICS_LOG", "info")
                .stderr(std::fs::File::create(path).expect("log")),
            None => command.stderr(Stdio::null()),
        };
        command.spawn().expect("spawn")
    }

    fn wait_for(port: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{what} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start() -> Cluster {
        start_with(&[])
    }

    /// One scheduler and two executors of one task each, so that stages really are
    /// spread over two processes; `env` is what each process has of `AWS_*`.
    fn start_with(env: &[(&str, String)]) -> Cluster {
        let work = tempfile::tempdir().expect("work");
        let log = work.path().join("scheduler.log");
        let scheduler = free_port();
        let mut processes = vec![spawn(
            &["scheduler", "--bind", &format!("127.0.0.1:{scheduler}")],
            env,
            Some(&log),
        )];
        wait_for(scheduler, "the scheduler");
        let mut ports = Vec::new();
        for n in 0..2 {
            let (flight, grpc) = (free_port(), free_port());
            let dir = work.path().join(format!("executor-{n}"));
            processes.push(spawn(
                &[
                    "executor",
                    "--scheduler",
                    &format!("127.0.0.1:{scheduler}"),
                    "--bind",
                    &format!("127.0.0.1:{flight}"),
                    "--grpc-port",
                    &grpc.to_string(),
                    "--concurrent-tasks",
                    "1",
                    "--work-dir",
                    dir.to_str().expect("utf-8"),
                ],
                env,
                None,
            ));
            ports.push((flight, grpc));
        }
        for (flight, grpc) in ports {
            wait_for(flight, "an executor's flight service");
            wait_for(grpc, "an executor's task service");
        }
        Cluster {
            scheduler,
            log,
            processes,
            _work: work,
        }
    }

    fn csv(query: &str, extra: &[&str]) -> String {
        let store = sample_store();
        let mut args = vec!["sql", "--store", &store, "--format", "csv"];
        args.extend_from_slice(extra);
        args.push(query);
        let output = command(&args).output().expect("runs");
        assert!(output.status.success(), "{query}: {}", stderr(&output));
        String::from_utf8(output.stdout).expect("utf-8")
    }

    #[test]
    fn queries_give_the_same_bytes_on_the_cluster_as_here() {
        let cluster = start();
        let url = cluster.url();
        for (query, tz) in [
            (
                "SELECT event_type, count(*) AS events, count(DISTINCT user_id) AS users \
                 FROM user_events GROUP BY event_type ORDER BY event_type",
                "UTC",
            ),
            // snapmetrics' own functions, decoded by name on the scheduler and executors.
            (
                "SELECT local_week(event_timestamp, 'Europe/Berlin') AS week, \
                 count(DISTINCT user_id) AS users FROM user_events GROUP BY 1 ORDER BY 1",
                "UTC",
            ),
            // A join and a decimal sum, through the canonical views over the files.
            (
                "SELECT u.id, count(t.id) AS transactions, sum(t.amount) AS amount \
                 FROM users u JOIN transactions t ON t.user_id = u.id \
                 GROUP BY u.id ORDER BY amount DESC, u.id LIMIT 20",
                "Europe/Berlin",
            ),
        ] {
            let here = csv(query, &["--tz", tz]);
            let there = csv(query, &["--tz", tz, "--cluster", &url]);
            assert!(here.lines().count() > 1, "{query}: {here}");
            assert_eq!(here, there, "{query}");
        }
        // And it ran there: the plan has Ballista's stages.
        let plan = csv(
            "EXPLAIN SELECT event_type, count(*) FROM user_events GROUP BY 1",
            &["--cluster", &url],
        );
        assert!(
            plan.contains("distributed_plan") && plan.contains("ShuffleWriterExec"),
            "{plan}"
        );
    }

    /// A generated snapshot of 300 users in `dir/store`; returns the store.
    fn generated_store(dir: &Path, layout: snapmetrics::generate::Layout) -> String {
        let store = dir.join("store");
        snapmetrics::generate::generate(
            &store.join("2026-06-30"),
            &snapmetrics::generate::GenerateOptions {
                layout,
                ..snapmetrics::generate::GenerateOptions::new(300, 11)
            },
            &|_| {},
        )
        .expect("generate");
        store.to_str().expect("utf-8").to_string()
    }

    /// `report --store STORE --out DIR/NAME EXTRA…` with `env`.
    fn report(
        store: &str,
        dir: &Path,
        name: &str,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> std::process::Command {
        let out = dir.join(name);
        let mut args = vec![
            "report",
            "--store",
            store,
            "--out",
            out.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        let mut command = command(&args);
        command.envs(env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// The files of a report that must succeed.
    fn report_files(
        store: &str,
        dir: &Path,
        name: &str,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Vec<(String, Vec<u8>)> {
        let output = report(store, dir, name, extra, env)
            .output()
            .expect("report");
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        all_files(&dir.join(name))
    }

    fn assert_same_report(name: &str, here: &[(String, Vec<u8>)], there: &[(String, Vec<u8>)]) {
        let names =
            |files: &[(String, Vec<u8>)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(here), names(there), "{name}");
        assert!(here.len() >= 11, "{name}: {} files", here.len());
        for ((file, a), (_, b)) in here.iter().zip(there) {
            if a != b {
                let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
                let first = a.lines().zip(b.lines()).position(|(x, y)| x != y);
                let line = |text: &str| first.and_then(|n| text.lines().nth(n)).map(str::to_string);
                panic!(
                    "{name}: {file} differs on the cluster: here {:?}, there {:?}",
                    line(&a),
                    line(&b)
                );
            }
        }
    }

    /// The whole report, here and on the cluster, file for file: with the defaults, then
    /// with filters and a time zone whose weeks cross a daylight-saving change.
    #[test]
    fn the_report_on_the_cluster_is_the_report_here() {
        let cluster = start();
        let url = cluster.url();
        let work = tempfile::tempdir().expect("work");
        let store = generated_store(work.path(), Default::default());
        let filtered = [
            "--tz",
            "America/New_York",
            "--from",
            "2026-02-01",
            "--to",
            "2026-05-31",
            "--active-only",
            "--event-types",
            "login",
        ];
        for (name, options) in [("defaults", &[][..]), ("filtered", &filtered[..])] {
            let here = report_files(&store, work.path(), &format!("{name}-here"), options, &[]);
            let there = report_files(
                &store,
                work.path(),
                &format!("{name}-there"),
                &[options, &["--cluster", &url]].concat(),
                &[],
            );
            assert_same_report(name, &here, &there);
        }
    }

    /// Ballista 55 recovers from a lost executor by re-running lost work, and what it
    /// gave back was wrong (rows twice) or never came; so the scheduler stops the
    /// running queries instead (docs/SCALE.md). Either way the report that an executor
    /// died under is whole and exact or not there at all, after a one-line error.
    #[test]
    fn an_executor_killed_during_the_report_ends_it_in_one_line_or_it_is_exact() {
        let mut cluster = start();
        let url = cluster.url();
        let work = tempfile::tempdir().expect("work");
        let store = generated_store(work.path(), Default::default());
        let here = report_files(&store, work.path(), "here", &[], &[]);
        let mut run = report(&store, work.path(), "there", &["--cluster", &url], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("report");
        // Well into the report: its session is open and its metrics are running.
        cluster.wait_for_jobs(12);
        cluster.kill_executor(0);
        let deadline = Instant::now() + Duration::from_secs(240);
        while run.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = run.kill();
                panic!("the report did not end within 240 s of the executor's death");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let output = run.wait_with_output().expect("output");
        let message = stderr(&output);
        if output.status.success() {
            eprintln!("the report completed on the other executor");
            assert_same_report(
                "after a lost executor",
                &here,
                &all_files(&work.path().join("there")),
            );
        } else {
            assert_eq!(output.status.code(), Some(1), "{message}");
            assert_eq!(message.trim_end().lines().count(), 1, "{message}");
            assert!(message.contains("an executor was lost"), "{message}");
            assert!(
                !work.path().join("there").exists(),
                "a partial report was left"
            );
        }
    }

    /// A snapshot as another tool writes it — `user_events` in Hive month folders in time
    /// order, `users` with naive timestamps, a column of its own and a Hive key — in an S3
    /// bucket the scheduler and executors reach with their own `AWS_*` settings: the
    /// report there is the report here, byte for byte.
    #[test]
    fn a_foreign_snapshot_in_s3_gives_the_report_here_on_the_cluster() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let server = runtime.block_on(crate::s3::Server::start());
        let env = server.env();
        let work = tempfile::tempdir().expect("work");
        let local = generated_store(work.path(), snapmetrics::generate::Layout::AppendOnly);
        let snapshot = Path::new(&local).join("2026-06-30");
        runtime.block_on(rewrite_users(
            &snapshot,
            "SELECT * REPLACE (CAST(created_at AS TIMESTAMP) AS created_at), \
             'crm' AS source_system FROM generated",
        ));
        crate::fixtures::copy_dir(
            &snapshot,
            &server.bucket("exports").join("exports/2026-06-30"),
        );
        let store = "s3://exports/exports";

        let cluster = start_with(&env);
        let here = report_files(store, work.path(), "here", &[], &env);
        let there = report_files(
            store,
            work.path(),
            "there",
            &["--cluster", &cluster.url()],
            &env,
        );
        assert_same_report("foreign snapshot in S3", &here, &there);
        drop(cluster);

        // A cluster that has no S3 settings of its own says so, in one line.
        let bare = start_with(&[]);
        let count = |store: &str| {
            command(&[
                "sql",
                "--store",
                store,
                "--cluster",
                &bare.url(),
                "SELECT count(*) FROM users",
            ])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("runs")
        };
        let output = count(store);
        let message = stderr(&output);
        assert!(!output.status.success(), "{message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
        assert!(message.contains("AWS_ACCESS_KEY_ID"), "{message}");

        // 32-bit ids, which Ballista 55 loses rows of: refused before any query runs.
        runtime.block_on(rewrite_users(
            &snapshot,
            "SELECT * REPLACE (CAST(id AS INT) AS id) FROM generated",
        ));
        let output = count(&local);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
        assert!(
            message.contains("table 'users': column 'id' is stored narrower than 64 bits"),
            "{message}"
        );
        let here = command(&["sql", "--store", &local, "SELECT count(*) FROM users"])
            .output()
            .expect("runs");
        assert!(here.status.success(), "{}", stderr(&here));
    }

    /// Rewrites `snapshot`'s users with `sql` over them (as `generated`), into a Hive
    /// folder of its own, as another exporter might have written them.
    async fn rewrite_users(snapshot: &Path, sql: &str) {
        use snapmetrics::datafusion::prelude::{ParquetReadOptions, SessionContext};
        let users = snapshot.join("users");
        let ctx = SessionContext::new();
        ctx.register_parquet(
            "generated",
            users.to_str().expect("utf-8"),
            ParquetReadOptions::default(),
        )
        .await
        .expect("register");
        let batches = ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("rows");
        let rows =
            snapmetrics::datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)
                .expect("concat");
        std::fs::remove_dir_all(&users).expect("remove");
        crate::fixtures::write_parquet(&users.join("region=eu/part-0.parquet"), &rows);
    }

    #[test]
    fn a_scheduler_that_is_not_there_is_one_line_within_seconds() {
        let started = Instant::now();
        let (code, message) = select_one_on(&format!("df://127.0.0.1:{}", free_port()));
        assert_eq!(code, Some(2), "{message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
        assert!(message.contains("cannot reach the scheduler"), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
    }
}
