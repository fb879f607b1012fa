//! All-or-nothing publication of a report's files, to a local folder or an object-store
//! prefix: at every moment, a reader finds the previous report or the new one, whole.
//!
//! A folder is staged beside its target and exchanged with it in one `renameat2` call
//! (two renames where the filesystem cannot exchange). An object store has no rename, so
//! each report goes to a folder of its own and a small pointer object, written last,
//! names the current one (docs/S3.md says what readers see).

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use std::io::Write;

use crate::error::{Error, Result};
use crate::source::snapshot::relative_parts;
use crate::source::store::{S3Options, Store};

/// The name of the file written last, whose presence marks a complete report.
pub const MANIFEST: &str = "manifest.json";

/// Where a report goes.
#[derive(Debug, Clone)]
pub enum Destination {
    Dir(PathBuf),
    Prefix(Store),
}

impl Destination {
    /// A folder path, or `s3://bucket/prefix`.
    pub fn parse(location: &str, s3: &S3Options) -> Result<Self> {
        if location.contains("://") {
            Ok(Destination::Prefix(Store::open_with(location, s3)?))
        } else {
            Ok(Destination::Dir(PathBuf::from(location)))
        }
    }

    /// Fails early, before any query runs, when publishing here would not work or would
    /// destroy something that is not a report: a folder or prefix that holds anything
    /// but a previous report, or one that contains, or lies inside, the store `reading`.
    pub async fn check(&self, reading: &Store) -> Result<()> {
        match self {
            Destination::Dir(out) => {
                staging_dir(out)?;
                if let Some(store) = reading.local_dir() {
                    let out = absolute(out);
                    if out.starts_with(store) || store.starts_with(&out) {
                        return Err(self.overlaps_store(reading));
                    }
                }
                check_replaceable_dir(out)
            }
            Destination::Prefix(store) => {
                if store.object_store_url() == reading.object_store_url()
                    && overlaps(store.root(), reading.root())
                {
                    return Err(self.overlaps_store(reading));
                }
                check_replaceable_prefix(store).await
            }
        }
    }

    fn overlaps_store(&self, reading: &Store) -> Error {
        refused(
            &self.display(),
            format!(
                "it overlaps the store '{}' being read; write the report outside the store",
                reading.location()
            ),
        )
    }

    pub fn display(&self) -> String {
        match self {
            Destination::Dir(out) => out.display().to_string(),
            Destination::Prefix(store) => store.location().to_string(),
        }
    }
}

fn refused(out: &str, reason: String) -> Error {
    Error::invalid(
        "--out",
        format!("refusing to write a report to '{out}': {reason}"),
    )
}

/// `path` made absolute without requiring it to exist: its nearest existing ancestor
/// is resolved (symbolic links included), the rest appended.
fn absolute(path: &Path) -> PathBuf {
    let joined = std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let mut existing = joined.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(resolved) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(resolved, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return joined,
        }
    }
}

/// Whether one object path is the other or lies below it.
fn overlaps(a: &ObjectPath, b: &ObjectPath) -> bool {
    a.prefix_match(b).is_some() || b.prefix_match(a).is_some()
}

/// What a previous report's `manifest.json` must say for its folder to be replaced.
#[derive(serde::Deserialize)]
struct ReportManifest {
    tool: ReportTool,
    #[serde(default)]
    outputs: Vec<ReportOutput>,
}

#[derive(serde::Deserialize)]
struct ReportTool {
    name: String,
}

#[derive(serde::Deserialize)]
struct ReportOutput {
    file: String,
}

/// The files a snapmetrics manifest lists (itself included), or `None` when `bytes` is
/// not one.
fn report_files(bytes: &[u8]) -> Option<Vec<String>> {
    let manifest: ReportManifest = serde_json::from_slice(bytes).ok()?;
    (manifest.tool.name == env!("CARGO_PKG_NAME")).then(|| {
        manifest
            .outputs
            .into_iter()
            .map(|o| o.file)
            .chain([MANIFEST.to_string()])
            .collect()
    })
}

/// A missing or empty folder, or one holding exactly a previous report's files.
fn check_replaceable_dir(out: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(out.display(), e)),
    };
    let names: Vec<String> = entries
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().to_string()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(out.display(), e))?;
    if names.is_empty() {
        return Ok(());
    }
    let not_a_report = || {
        refused(
            &out.display().to_string(),
            "the folder exists and is not a previous snapmetrics report (no manifest.json of one); choose a new folder, or remove it yourself".to_string(),
        )
    };
    let listed = std::fs::read(out.join(MANIFEST))
        .ok()
        .and_then(|bytes| report_files(&bytes))
        .ok_or_else(not_a_report)?;
    if let Some(stranger) = names.iter().find(|n| !listed.contains(n)) {
        return Err(refused(
            &out.display().to_string(),
            format!(
                "it is a previous report but also holds '{stranger}', which the report did not write; move it out first"
            ),
        ));
    }
    Ok(())
}

/// An empty prefix, or one that holds a snapmetrics report: a [`POINTER`] and its runs,
/// the runs of a publication that died before its pointer, or a report published
/// before pointers existed (its `manifest.json` at the top).
async fn check_replaceable_prefix(store: &Store) -> Result<()> {
    let os = store.object_store();
    let mut listing = os.list(Some(store.root()));
    let mut foreign = false;
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| store.error(e))?;
        let ours = relative_parts(store.root(), &meta.location)
            .and_then(|parts| parts.first().cloned())
            .is_some_and(|first| first.starts_with("_tmp-") || first == RUNS);
        if !ours {
            foreign = true;
            break;
        }
    }
    drop(listing);
    if !foreign || Pointer::read(store).await?.is_some() || legacy_files(store).await?.is_some() {
        return Ok(());
    }
    Err(refused(
        store.location(),
        "the prefix holds objects and is not a previous snapmetrics report (no current.json or manifest.json of one); choose a new prefix".to_string(),
    ))
}

/// The files of a report published at the top of the prefix, before pointers existed.
async fn legacy_files(store: &Store) -> Result<Option<Vec<String>>> {
    let manifest = store.get_if_exists(&store.child([MANIFEST])).await?;
    Ok(manifest.as_deref().and_then(report_files))
}

impl From<&Path> for Destination {
    fn from(path: &Path) -> Self {
        Destination::Dir(path.to_path_buf())
    }
}

impl From<&PathBuf> for Destination {
    fn from(path: &PathBuf) -> Self {
        Destination::Dir(path.clone())
    }
}

/// Publishes `files` (name, bytes) so that they appear together or not at all; the
/// manifest, if among them, is written last.
pub async fn publish(destination: &Destination, files: &[(String, Vec<u8>)]) -> Result<()> {
    match destination {
        Destination::Dir(out) => publish_dir(out, files),
        Destination::Prefix(store) => publish_prefix(store, files).await,
    }
}

/// `.<name>.tmp-<pid>` beside `out`, after checking `out` can be replaced.
fn staging_dir(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .ok_or_else(|| Error::invalid("--out", format!("'{}' has no folder name", out.display())))?
        .to_string_lossy()
        .to_string();
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if parent.exists() && !parent.is_dir() {
        return Err(Error::invalid(
            "--out",
            format!("'{}' is not a folder", parent.display()),
        ));
    }
    if out.exists() && !out.is_dir() {
        return Err(Error::invalid(
            "--out",
            format!("'{}' exists and is not a folder", out.display()),
        ));
    }
    Ok(parent.join(staging_name(&name, std::process::id())))
}

/// `.<name>.tmp-<pid>`: where process `pid` stages `name` (a report folder or a file).
fn staging_name(name: &str, pid: u32) -> String {
    format!(".{name}{STAGING}{pid}")
}

const STAGING: &str = ".tmp-";

/// Removes the staging folder unless it was published.
struct Cleanup<'a>(&'a Path, bool);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
}

/// Stages the folder (every file synced), then swaps it in: exchanged with the previous
/// report in one step where the filesystem can, else by two renames, the old report
/// moved aside first. The old report, left under the staging name, is deleted last; a run
/// killed before that leaves it as debris that the next run removes.
fn publish_dir(out: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let dir = staging_dir(out)?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
    }
    clean_stale(out)?;
    check_replaceable_dir(out)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    std::fs::create_dir(&dir).map_err(|e| Error::io(out.display(), e))?;
    let mut cleanup = Cleanup(&dir, false);
    for (name, bytes) in files {
        write_synced(&dir.join(name), bytes).map_err(|e| Error::io(out.join(name).display(), e))?;
    }
    sync_dir(&dir).map_err(|e| Error::io(out.display(), e))?;
    if !out.exists() {
        std::fs::rename(&dir, out).map_err(|e| Error::io(out.display(), e))?;
        cleanup.1 = true;
        return Ok(());
    }
    match exchange(&dir, out) {
        Ok(true) => {}
        Ok(false) => {
            let backup = dir.with_extension("old");
            std::fs::rename(out, &backup).map_err(|e| Error::io(out.display(), e))?;
            if let Err(e) = std::fs::rename(&dir, out) {
                let _ = std::fs::rename(&backup, out);
                return Err(Error::io(out.display(), e));
            }
            std::fs::rename(&backup, &dir).map_err(|e| Error::io(backup.display(), e))?;
        }
        Err(e) => return Err(Error::io(out.display(), e)),
    }
    // `dir` now holds the previous report; Cleanup removes it.
    if let Some(parent) = dir.parent() {
        let _ = sync_dir(parent);
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Exchanges two paths in one step; `Ok(false)` where the system or filesystem cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::NOTSUP) => {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// The object at the top of an `s3://` report prefix that names the complete report. It
/// is switched last, in one PUT, which S3 applies whole: a reader that reads it first
/// sees either the previous report or the new one, never a mixture.
pub const POINTER: &str = "current.json";

/// The folder below an `s3://` report prefix that holds one folder per published report.
pub const RUNS: &str = "runs";

/// The content of [`POINTER`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Pointer {
    /// The report's folder below the prefix, `runs/<id>`.
    pub report: String,
    /// The SHA-256 of that folder's `manifest.json`, so that a reader can tell it read the
    /// manifest the pointer names.
    pub manifest_sha256: String,
}

impl Pointer {
    /// The pointer of `store`, `None` when there is none; an error when it is not one.
    pub async fn read(store: &Store) -> Result<Option<Pointer>> {
        let Some(bytes) = store.get_if_exists(&store.child([POINTER])).await? else {
            return Ok(None);
        };
        let pointer: Pointer = serde_json::from_slice(&bytes).map_err(|e| Error::Report {
            report: store.location().to_string(),
            reason: format!("{POINTER} is not a snapmetrics report pointer ({e})"),
        })?;
        let parts: Vec<&str> = pointer.report.split('/').collect();
        if !matches!(parts.as_slice(), [RUNS, id] if !id.is_empty() && !id.starts_with('.')) {
            return Err(Error::Report {
                report: store.location().to_string(),
                reason: format!(
                    "{POINTER} names '{}', not a folder of {RUNS}/",
                    pointer.report
                ),
            });
        }
        Ok(Some(pointer))
    }

    /// The report's folder as an object path below `store`.
    pub fn folder(&self, store: &Store) -> ObjectPath {
        store.child(self.report.split('/'))
    }
}

/// Uploads the report to a folder of its own, `runs/<id>/` (`manifest.json` last), then
/// switches [`POINTER`] to it; only then are older runs removed, all but the one the
/// pointer named before, which a reader that read the old pointer may still be reading.
/// `<id>` is derived from the files, so publishing the same report again rewrites the
/// same bytes to the same folder.
async fn publish_prefix(store: &Store, files: &[(String, Vec<u8>)]) -> Result<()> {
    let os = store.object_store();
    let previous = Pointer::read(store).await?;
    let id = run_id(files);
    let report = format!("{RUNS}/{id}");
    let folder = store.child([RUNS, id.as_str()]);
    let is_current = previous.as_ref().is_some_and(|p| p.report == report);
    let put = |name: &str, bytes: &[u8]| {
        let path = folder.clone().join(name);
        let payload = PutPayload::from(bytes.to_vec());
        async move { os.put(&path, payload).await.map(|_| ()) }
    };
    let (manifest, others): (Vec<_>, Vec<_>) = files.iter().partition(|(name, _)| name == MANIFEST);
    let uploaded = async {
        futures::stream::iter(others.iter())
            .map(|(name, bytes)| put(name, bytes))
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        for (name, bytes) in &manifest {
            put(name, bytes).await?;
        }
        let pointer = Pointer {
            report: report.clone(),
            manifest_sha256: manifest
                .first()
                .map(|(_, bytes)| crate::output::manifest::sha256_hex(bytes))
                .unwrap_or_default(),
        };
        let bytes =
            serde_json::to_vec_pretty(&pointer).map_err(|e| object_store::Error::Generic {
                store: "report",
                source: Box::new(e),
            })?;
        os.put(&store.child([POINTER]), PutPayload::from(bytes))
            .await
            .map(|_| ())
    }
    .await;
    if let Err(e) = uploaded {
        // The same folder as the current report holds the same bytes: leave it be.
        if !is_current {
            store.remove_prefix(&folder).await;
        }
        return Err(store.error(e));
    }
    let keep = [Some(report), previous.map(|p| p.report)];
    remove_superseded(store, &keep).await;
    Ok(())
}

/// A folder name for a report: the start of the SHA-256 over its files.
fn run_id(files: &[(String, Vec<u8>)]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (name, bytes) in files {
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    }
    hash.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Best-effort removal, once the pointer has moved, of what no reader can reach any more:
/// runs other than `keep`, the staging objects and the top-level files of reports
/// published before the pointer existed (their `manifest.json` first, so that no reader
/// takes the rest for a complete report).
async fn remove_superseded(store: &Store, keep: &[Option<String>]) {
    let os = store.object_store();
    let legacy = legacy_files(store).await.ok().flatten().unwrap_or_default();
    let listed: Vec<ObjectPath> = os
        .list(Some(store.root()))
        .filter_map(|m| async move { m.ok().map(|m| m.location) })
        .collect()
        .await;
    let mut doomed: Vec<&ObjectPath> = listed
        .iter()
        .filter(|path| {
            let Some(parts) = relative_parts(store.root(), path) else {
                return false;
            };
            match parts.as_slice() {
                [pointer] if pointer == POINTER => false,
                [runs, id, ..] if runs == RUNS => {
                    let report = format!("{RUNS}/{id}");
                    !keep.iter().flatten().any(|k| *k == report)
                }
                [first, ..] if first.starts_with("_tmp-") => true,
                [file] => legacy.contains(file),
                _ => false,
            }
        })
        .collect();
    let legacy_manifest = store.child([MANIFEST]);
    doomed.sort_by_key(|path| **path != legacy_manifest);
    for path in doomed {
        let _ = os.delete(path).await;
    }
}

/// Removes what a killed run left beside `out`: `.<name>.tmp-<pid>` staging files and
/// folders of processes that no longer run. A `.old` backup is the previous report
/// itself when the run died between its two renames: it is put back, not removed.
fn clean_stale(out: &Path) -> Result<()> {
    let (Some(parent), Some(name)) = (out.parent(), out.file_name()) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let prefix = format!(".{}{STAGING}", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let (pid, backup) = match rest.strip_suffix(".old") {
            Some(pid) => (pid, true),
            None => (rest, false),
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !process_is_gone(pid) {
            continue;
        }
        let path = entry.path();
        if backup && !out.exists() {
            std::fs::rename(&path, out).map_err(|e| Error::io(path.display(), e))?;
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io(path.display(), e))?;
    }
    Ok(())
}

/// True only when the process table (Linux `/proc`) says `pid` does not run; where
/// there is no `/proc`, nothing is ever taken for stale.
fn process_is_gone(pid: u32) -> bool {
    pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Where one output file goes: a local path, written through an [`AtomicFile`], or an
/// object `s3://bucket/key`, written in one PUT, which an object store shows whole or
/// not at all. Either way a reader never sees part of the file.
#[derive(Debug, Clone)]
pub enum FileDestination {
    Local(PathBuf),
    Object { store: Store, key: ObjectPath },
}

impl FileDestination {
    /// A file path, or `s3://bucket/prefix/name`.
    pub fn parse(location: &str, s3: &S3Options) -> Result<Self> {
        if !location.contains("://") {
            return Ok(FileDestination::Local(PathBuf::from(location)));
        }
        let no_object = || {
            Error::invalid(
                "--out",
                format!("'{location}' names no object; give s3://bucket/prefix/file"),
            )
        };
        let (scheme, rest) = location.split_once("://").ok_or_else(no_object)?;
        let (bucket, name) = rest
            .rsplit_once('/')
            .filter(|(bucket, name)| !bucket.is_empty() && !name.is_empty())
            .ok_or_else(no_object)?;
        let parent = format!("{scheme}://{bucket}");
        let store = Store::open_with(&parent, s3)?;
        let key = store.child([name]);
        Ok(FileDestination::Object { store, key })
    }

    /// The file's name, whose extension says its format.
    pub fn file_name(&self) -> Option<String> {
        match self {
            FileDestination::Local(path) => path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned()),
            FileDestination::Object { key, .. } => key.filename().map(str::to_string),
        }
    }

    /// Writes `bytes` as the whole file, replacing a previous one only once complete.
    pub async fn write(&self, bytes: Vec<u8>) -> Result<()> {
        match self {
            FileDestination::Local(path) => {
                let mut file = AtomicFile::create(path)?;
                file.write_all(&bytes)
                    .map_err(|e| Error::io(path.display(), e))?;
                file.commit()
            }
            FileDestination::Object { store, key } => store
                .object_store()
                .put(key, PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| store.error(e)),
        }
    }

    pub fn display(&self) -> String {
        match self {
            FileDestination::Local(path) => path.display().to_string(),
            FileDestination::Object { store, key } => store.display(key),
        }
    }
}

/// A file that appears at its path complete or not at all: written beside it as
/// `.<name>.tmp-<pid>` and renamed into place by [`AtomicFile::commit`]; dropped
/// uncommitted, it leaves nothing, and the previous file stays as it was.
pub struct AtomicFile {
    path: PathBuf,
    staging: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .ok_or_else(|| {
                Error::invalid("--output", format!("'{}' has no file name", path.display()))
            })?
            .to_string_lossy()
            .to_string();
        if path.is_dir() {
            return Err(Error::invalid(
                "--output",
                format!("'{}' is a folder; name a file", path.display()),
            ));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
        }
        clean_stale(path)?;
        let staging = path.with_file_name(staging_name(&name, std::process::id()));
        let file = std::fs::File::create(&staging).map_err(|e| Error::io(path.display(), e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            staging,
            file: Some(std::io::BufWriter::new(file)),
        })
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        let failed = |e| Error::io(self.path.display(), e);
        let writer = self
            .file
            .take()
            .ok_or_else(|| failed(std::io::Error::other("the file was already committed")))?;
        let file = writer.into_inner().map_err(|e| failed(e.into_error()))?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&self.staging, &self.path).map_err(failed)
    }

    fn annotate(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("writing {}: {e}", self.path.display()))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.file.as_mut() {
            Some(file) => file.write(buf).map_err(|e| self.annotate(e)),
            None => Err(std::io::Error::other("the file was already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush().map_err(|e| self.annotate(e)),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.staging);
        }
    }
}
