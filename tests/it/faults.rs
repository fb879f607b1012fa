//! The report under local faults: killed at random points, a full disk, a read-only
//! parent. Each time the previous report must stay whole and nothing partial may appear.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::{Rng, SeedableRng};

use crate::fixtures::{command, copy_dir, is_root, stderr};

const ID: &str = "2026-06-30";

/// A generated 300-user store, and the two reports (all files and filtered) it gives.
struct Reports {
    _dir: tempfile::TempDir,
    store: PathBuf,
    plain: PathBuf,
    filtered: PathBuf,
}

const FILTER: [&str; 2] = ["--from", "2026-03-01"];

impl Reports {
    fn new() -> Reports {
        let dir = tempfile::tempdir().expect("dir");
        let store = dir.path().join("store");
        snapmetrics::generate::generate(
            &store.join(ID),
            &snapmetrics::generate::GenerateOptions::new(300, 7),
            &|_| {},
        )
        .expect("generate");
        let plain = dir.path().join("plain");
        let filtered = dir.path().join("filtered");
        let reports = Reports {
            store,
            plain,
            filtered,
            _dir: dir,
        };
        reports.run(&reports.plain, &[]).expect("plain report");
        reports
            .run(&reports.filtered, &FILTER)
            .expect("filtered report");
        assert!(files(&reports.plain) != files(&reports.filtered));
        reports
    }

    fn report(&self, out: &Path, extra: &[&str]) -> Command {
        let (store, out) = (text(&self.store), text(out));
        let mut args = vec!["report", "--store", store, "--out", out];
        args.extend_from_slice(extra);
        command(&args)
    }

    /// A whole run; its stderr on failure.
    fn run(&self, out: &Path, extra: &[&str]) -> Result<(), (Option<i32>, String)> {
        let output = self.report(out, extra).output().expect("runs");
        match output.status.success() {
            true => Ok(()),
            false => Err((output.status.code(), stderr(&output))),
        }
    }
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A folder's files by name, with their bytes; sub-folders fail the test.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("report folder")
        .map(|e| e.expect("entry").path())
        .map(|path| {
            assert!(path.is_file(), "{} in a report", path.display());
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .to_string();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    files.sort();
    files
}

/// Everything in `dir` but `keep`.
fn debris(dir: &Path, keep: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| n != keep)
        .collect();
    names.sort();
    names
}

#[test]
fn a_report_killed_anywhere_leaves_a_whole_report() {
    let reports = Reports::new();
    let parent = tempfile::tempdir().expect("parent");
    let out = parent.path().join("daily");
    copy_dir(&reports.plain, &out);
    let (plain, filtered) = (files(&reports.plain), files(&reports.filtered));

    let started = Instant::now();
    reports.run(&out, &[]).expect("a timed run");
    let whole = started.elapsed();

    let seed = 20_261_202;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let (mut before, mut after) = (0, 0);
    for run in 0..20 {
        // Half anywhere in the run, half around its end, where it publishes.
        let at = if run % 2 == 0 {
            whole.mul_f64(rng.random_range(0.0..1.0))
        } else {
            whole.mul_f64(rng.random_range(0.85..1.05))
        };
        let extra: &[&str] = if run % 2 == 0 { &FILTER } else { &[] };
        let previous = files(&out);
        let mut child = reports
            .report(&out, extra)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(at);
        // SIGKILL: no destructor, no cleanup; a run that already ended is not an error.
        let _ = child.kill();
        let status = child.wait().expect("wait");
        let now = files(&out);
        assert!(
            now == plain || now == filtered,
            "run {run} (seed {seed}), killed after {at:?}: {} is not a whole report",
            out.display()
        );
        let new = if extra.is_empty() { &plain } else { &filtered };
        if now == previous && previous != *new {
            before += 1;
        } else if now == *new && previous != *new {
            after += 1;
        }
        if let Some(name) = debris(parent.path(), "daily")
            .iter()
            .find(|n| !n.starts_with(".daily.tmp-"))
        {
            panic!("run {run}: unexpected '{name}' beside the report ({status})");
        }
    }
    eprintln!(
        "20 kills (seed {seed}, a whole run {whole:?}): {before} left the previous report, {after} the new one"
    );
    // A later run removes what the killed ones left.
    reports.run(&out, &[]).expect("a run after the kills");
    assert!(files(&out) == plain);
    assert_eq!(debris(parent.path(), "daily"), Vec::<String>::new());
}

/// A tmpfs of `size` mounted over a temporary folder, unmounted when dropped; `None`
/// (after saying so loudly) where this process may not mount.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("mount point");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = match other {
                    Ok(output) => stderr(&output),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var_os("CI").is_none() || !is_root(),
                    "{test}: running as root in CI, but cannot mount a tmpfs: {why}"
                );
                eprintln!(
                    "SKIPPED {test}: it needs to mount a tmpfs (root with CAP_SYS_ADMIN): {}",
                    why.trim()
                );
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .expect("mount");
        assert!(status.success(), "remount read-only");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Bytes a folder's files take on a tmpfs (whole pages).
fn footprint(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .map(|(_, bytes)| (bytes.len() as u64).div_ceil(4096) * 4096)
        .sum()
}

#[test]
fn a_full_disk_fails_naming_the_file_and_keeps_the_previous_report() {
    let Some(disk) = Tmpfs::mount("4m", "a_full_disk_fails…") else {
        return;
    };
    let reports = Reports::new();
    let out = disk.path().join("daily");
    copy_dir(&reports.plain, &out);
    // Leave room for half the report.
    let stat = rustix::fs::statvfs(disk.path()).expect("statvfs");
    let free = stat.f_bavail * stat.f_frsize;
    let filler = free.saturating_sub(footprint(&reports.filtered) / 2);
    std::fs::write(disk.path().join("filler"), vec![1u8; filler as usize]).expect("filler");

    let (code, message) = reports
        .run(&out, &FILTER)
        .expect_err("no room for the report");
    assert_eq!(code, Some(1), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(message.contains("No space left on device"), "{message}");
    assert!(message.contains(text(&out)), "names no file: {message}");
    assert!(
        files(&out) == files(&reports.plain),
        "the previous report changed"
    );
    assert_eq!(debris(disk.path(), "daily"), ["filler"]);
}

#[test]
fn a_read_only_parent_fails_and_keeps_the_previous_report() {
    let reports = Reports::new();
    let check = |parent: &Path| {
        let out = parent.join("daily");
        let (code, message) = reports.run(&out, &FILTER).expect_err("a read-only parent");
        assert_eq!(code, Some(2), "{message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
        assert!(message.contains(text(&out)), "{message}");
        assert!(
            files(&out) == files(&reports.plain),
            "the previous report changed"
        );
        assert_eq!(debris(parent, "daily"), Vec::<String>::new());
    };
    if is_root() {
        // Root writes through permission bits: only a read-only mount stops it.
        let Some(disk) = Tmpfs::mount("4m", "a_read_only_parent…") else {
            return;
        };
        copy_dir(&reports.plain, &disk.path().join("daily"));
        disk.remount_read_only();
        check(disk.path());
    } else {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().expect("parent");
        copy_dir(&reports.plain, &parent.path().join("daily"));
        let mode = |m| std::fs::Permissions::from_mode(m);
        std::fs::set_permissions(parent.path(), mode(0o555)).expect("chmod");
        check(parent.path());
        std::fs::set_permissions(parent.path(), mode(0o755)).expect("chmod back");
    }
}
