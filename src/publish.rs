//! All-or-nothing publication of a report's files, to a local folder or an object-store
//! prefix.
//!
//! A folder is staged beside its target and swapped in with renames. An object store has
//! no rename, so files go under a temporary prefix first, and `manifest.json` — which
//! lists every file with its SHA-256 — is written last: a reader knows a report is
//! complete when `manifest.json` exists, and can check each file against it.

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::error::{Error, Result};
use crate::store::{S3Options, Store};

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

    /// Fails early, before any query runs, when the destination cannot work.
    pub fn check(&self) -> Result<()> {
        match self {
            Destination::Dir(out) => {
                staging_dir(out)?;
                Ok(())
            }
            Destination::Prefix(_) => Ok(()),
        }
    }

    pub fn display(&self) -> String {
        match self {
            Destination::Dir(out) => out.display().to_string(),
            Destination::Prefix(store) => store.location().to_string(),
        }
    }
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
    if !parent.is_dir() {
        return Err(Error::invalid(
            "--out",
            format!("the parent folder '{}' does not exist", parent.display()),
        ));
    }
    if out.exists() && !out.is_dir() {
        return Err(Error::invalid(
            "--out",
            format!("'{}' exists and is not a folder", out.display()),
        ));
    }
    Ok(parent.join(format!(".{name}.tmp-{}", std::process::id())))
}

/// Removes the staging folder unless it was published.
struct Cleanup<'a>(&'a Path, bool);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
}

/// Stages the folder, then swaps it in: the old report is moved aside first and deleted
/// last, so at every moment one complete report exists on disk.
fn publish_dir(out: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let dir = staging_dir(out)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
    }
    std::fs::create_dir(&dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut cleanup = Cleanup(&dir, false);
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| Error::io(path.display(), e))?;
    }
    let backup = dir.with_extension("old");
    let had_previous = out.exists();
    if had_previous {
        std::fs::rename(out, &backup).map_err(|e| Error::io(out.display(), e))?;
    }
    if let Err(e) = std::fs::rename(&dir, out) {
        if had_previous {
            let _ = std::fs::rename(&backup, out);
        }
        return Err(Error::io(out.display(), e));
    }
    cleanup.1 = true;
    if had_previous {
        std::fs::remove_dir_all(&backup).map_err(|e| Error::io(backup.display(), e))?;
    }
    Ok(())
}

/// Uploads under `_tmp-<run>/`, then removes the old manifest (the report is now
/// visibly incomplete), copies each file into place and writes the manifest last.
/// A failure before the old manifest is removed leaves the previous report intact.
async fn publish_prefix(store: &Store, files: &[(String, Vec<u8>)]) -> Result<()> {
    let os = store.object_store();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = store.child([format!("_tmp-{}-{nanos}", std::process::id()).as_str()]);
    let staged = |name: &str| tmp.clone().join(name);
    let upload = futures::stream::iter(files.iter())
        .map(|(name, bytes)| {
            let path = staged(name);
            let payload = PutPayload::from(bytes.clone());
            async move { os.put(&path, payload).await.map(|_| ()) }
        })
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await;
    if let Err(e) = upload {
        remove_all(store, &tmp).await;
        return Err(store.error(e));
    }

    let result = async {
        match os.delete(&store.child([MANIFEST])).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        for (name, _) in files.iter().filter(|(name, _)| name != MANIFEST) {
            os.copy(&staged(name), &store.child([name.as_str()]))
                .await?;
        }
        if files.iter().any(|(name, _)| name == MANIFEST) {
            os.copy(&staged(MANIFEST), &store.child([MANIFEST])).await?;
        }
        Ok(())
    }
    .await;
    remove_all(store, &tmp).await;
    result.map_err(|e| store.error(e))
}

/// Best-effort removal of a temporary prefix; what is left is harmless and named `_tmp-*`.
async fn remove_all(store: &Store, prefix: &ObjectPath) {
    let os = store.object_store();
    let listed: Vec<_> = os
        .list(Some(prefix))
        .filter_map(|m| async move { m.ok().map(|m| m.location) })
        .collect()
        .await;
    for path in listed {
        let _ = os.delete(&path).await;
    }
}
