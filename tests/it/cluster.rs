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
    use std::process::{Child, Stdio};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::fixtures::all_files;

    /// The cluster's processes, killed when the test ends however it ends.
    struct Cluster {
        scheduler: u16,
        processes: Vec<Child>,
        _work: tempfile::TempDir,
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            for child in &mut self.processes {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn spawn(args: &[&str]) -> Child {
        command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn")
    }

    fn wait_for(port: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{what} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One scheduler and two executors of one task each, so that stages really are
    /// spread over two processes.
    fn start() -> Cluster {
        let work = tempfile::tempdir().expect("work");
        let scheduler = free_port();
        let mut processes = vec![spawn(&[
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{scheduler}"),
        ])];
        wait_for(scheduler, "the scheduler");
        let mut ports = Vec::new();
        for n in 0..2 {
            let (flight, grpc) = (free_port(), free_port());
            let dir = work.path().join(format!("executor-{n}"));
            processes.push(spawn(&[
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
            ]));
            ports.push((flight, grpc));
        }
        for (flight, grpc) in ports {
            wait_for(flight, "an executor's flight service");
            wait_for(grpc, "an executor's task service");
        }
        Cluster {
            scheduler,
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
        let url = format!("df://127.0.0.1:{}", cluster.scheduler);
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

    /// The whole report, here and on the cluster, file for file: with the defaults, then
    /// with filters and a time zone whose weeks cross a daylight-saving change.
    #[test]
    fn the_report_on_the_cluster_is_the_report_here() {
        let cluster = start();
        let url = format!("df://127.0.0.1:{}", cluster.scheduler);
        let work = tempfile::tempdir().expect("work");
        let store = work.path().join("store");
        snapmetrics::generate::generate(
            &store.join("2026-06-30"),
            &snapmetrics::generate::GenerateOptions::new(300, 11),
            &|_| {},
        )
        .expect("generate");
        let store = store.to_str().expect("utf-8");
        let report = |name: &str, extra: &[&str]| {
            let out = work.path().join(name);
            let mut args = vec![
                "report",
                "--store",
                store,
                "--out",
                out.to_str().expect("utf-8"),
            ];
            args.extend_from_slice(extra);
            let output = command(&args).output().expect("report");
            assert!(output.status.success(), "{name}: {}", stderr(&output));
            all_files(&out)
        };
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
            let here = report(&format!("{name}-here"), options);
            let there = report(
                &format!("{name}-there"),
                &[options, &["--cluster", &url]].concat(),
            );
            let names = |files: &[(String, Vec<u8>)]| {
                files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
            };
            assert_eq!(names(&here), names(&there), "{name}");
            assert!(here.len() >= 11, "{name}: {} files", here.len());
            for ((file, a), (_, b)) in here.iter().zip(&there) {
                assert!(a == b, "{name}: {file} differs on the cluster");
            }
        }
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
