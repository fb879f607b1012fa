//! One export of the source database: discovery, completeness and `as_of`.
//!
//! A snapshot is listed exactly once; the file list found here is the one DataFusion
//! reads, so stray files are decided on in one place.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::source::store::Store;

pub const SUCCESS_MARKER: &str = "_SUCCESS";
pub const MANIFEST_FILE: &str = "_manifest.json";
pub const LATEST: &str = "latest";

/// A snapshot id and whether the exporter finished writing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotEntry {
    pub id: String,
    pub complete: bool,
}

/// Lists the store's snapshots, sorted by id (which is time order).
pub async fn list(store: &Store) -> Result<Vec<SnapshotEntry>> {
    Ok(list_with_unusable(store).await?.0)
}

/// [`list`], and the folders that cannot be snapshots (see [`listing`]), from one
/// listing of the store.
pub async fn list_with_unusable(store: &Store) -> Result<(Vec<SnapshotEntry>, Vec<String>)> {
    let (ids, unusable) = listing(store).await?;
    let mut entries = Vec::new();
    for id in ids {
        let complete = exists(store, &store.snapshot_prefix(&id).join(SUCCESS_MARKER)).await?;
        entries.push(SnapshotEntry { id, complete });
    }
    Ok((entries, unusable))
}

/// The snapshot ids in the store, sorted: one listing, no per-snapshot request.
async fn ids(store: &Store) -> Result<Vec<String>> {
    Ok(listing(store).await?.0)
}

/// The store's snapshot ids, sorted, and the folders that cannot be snapshots because
/// their names cannot be read (see [`Store::local_ids`]).
pub async fn listing(store: &Store) -> Result<(Vec<String>, Vec<String>)> {
    if let Some(listed) = store.local_ids() {
        let (mut ids, unusable) = listed.map_err(|e| Error::io(store.location(), e))?;
        ids.retain(|id| !id.starts_with(['.', '_']));
        ids.sort();
        return Ok((ids, unusable));
    }
    let listing = store
        .object_store()
        .list_with_delimiter(Some(store.root()))
        .await
        .map_err(|e| store.error(e))?;
    let mut ids: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|prefix| prefix.filename())
        .filter(|id| !id.starts_with(['.', '_']))
        .map(str::to_string)
        .collect();
    ids.sort();
    Ok((ids, Vec::new()))
}

async fn exists(store: &Store, path: &Path) -> Result<bool> {
    match store.object_store().head(path).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(store.error(e)),
    }
}

/// Where a snapshot's `as_of` came from; reports say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsOfSource {
    Manifest,
    SnapshotId,
    MaxUserCreatedAt,
}

impl fmt::Display for AsOfSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AsOfSource::Manifest => "manifest exported_at",
            AsOfSource::SnapshotId => "snapshot id",
            AsOfSource::MaxUserCreatedAt => "greatest users.created_at",
        })
    }
}

/// The instant the snapshot describes the world at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AsOf {
    pub at: DateTime<Utc>,
    pub source: AsOfSource,
}

/// The files of one table, as found in the snapshot.
#[derive(Debug, Clone)]
pub struct TableFiles {
    pub name: String,
    /// The table's folder, or its single file.
    pub location: Path,
    pub is_dir: bool,
    pub files: Vec<ObjectMeta>,
}

/// A resolved snapshot: its id, manifest and every table's files.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub id: String,
    pub complete: bool,
    pub manifest: Option<serde_json::Value>,
    pub tables: BTreeMap<String, TableFiles>,
    /// Objects that are not table data (markers, `.crc`, `_temporary/`, …), never read.
    pub ignored: Vec<Path>,
}

impl Snapshot {
    /// Resolves `selector` (`latest` or an id) and lists the snapshot's files once.
    pub async fn open(store: &Store, selector: &str, allow_incomplete: bool) -> Result<Self> {
        let id = if selector == LATEST {
            latest(store).await?
        } else {
            selector.to_string()
        };
        let prefix = store.snapshot_prefix(&id);
        let objects: Vec<ObjectMeta> = store
            .object_store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| store.error(e))?;
        // An empty folder is a snapshot whose first file is not written yet.
        if objects.is_empty() && !ids(store).await?.contains(&id) {
            return Err(Error::SnapshotNotFound {
                store: store.location().to_string(),
                id,
            });
        }
        let complete = objects
            .iter()
            .any(|o| o.location == prefix.clone().join(SUCCESS_MARKER));
        if !complete && !allow_incomplete {
            return Err(Error::IncompleteSnapshot { id });
        }

        let mut snapshot = Snapshot {
            id,
            complete,
            manifest: None,
            tables: BTreeMap::new(),
            ignored: Vec::new(),
        };
        let mut manifest_path = None;
        for meta in objects {
            let Some(rel) = relative_parts(&prefix, &meta.location) else {
                continue;
            };
            snapshot.classify(&prefix, rel, meta, &mut manifest_path)?;
        }
        for table in snapshot.tables.values_mut() {
            table.files.sort_by(|a, b| a.location.cmp(&b.location));
        }
        snapshot.ignored.sort();
        if manifest_path.is_some() {
            snapshot.manifest = read_manifest(store, &snapshot.id).await?;
        }
        Ok(snapshot)
    }

    fn classify(
        &mut self,
        prefix: &Path,
        rel: Vec<String>,
        meta: ObjectMeta,
        manifest_path: &mut Option<Path>,
    ) -> Result<()> {
        let hidden = |part: &String| part.starts_with(['.', '_']);
        let is_parquet = rel.last().is_some_and(|f| f.ends_with(".parquet"));
        match rel.as_slice() {
            [name] if name == MANIFEST_FILE => *manifest_path = Some(meta.location.clone()),
            [name] if is_parquet && !hidden(name) => {
                let table = name.trim_end_matches(".parquet").to_string();
                self.add(prefix, table, false, meta)?;
            }
            [dir, rest @ ..] if !rest.is_empty() && is_parquet && !rel.iter().any(hidden) => {
                let table = dir.clone();
                self.add(prefix, table, true, meta)?;
            }
            _ => self.ignored.push(meta.location),
        }
        Ok(())
    }

    fn add(&mut self, prefix: &Path, table: String, is_dir: bool, meta: ObjectMeta) -> Result<()> {
        let location = if is_dir {
            prefix.clone().join(table.as_str())
        } else {
            meta.location.clone()
        };
        let entry = self
            .tables
            .entry(table.clone())
            .or_insert_with(|| TableFiles {
                name: table.clone(),
                location,
                is_dir,
                files: Vec::new(),
            });
        if entry.is_dir != is_dir {
            return Err(Error::Layout {
                snapshot: self.id.clone(),
                reason: format!(
                    "table '{table}' is both a folder '{table}/' and a file '{table}.parquet'; remove one"
                ),
            });
        }
        entry.files.push(meta);
        Ok(())
    }

    /// `as_of` from the manifest or the id; `None` means it must come from the data.
    pub fn as_of_hint(&self) -> Option<AsOf> {
        as_of_hint(&self.id, self.manifest.as_ref())
    }

    pub fn table(&self, name: &str) -> Option<&TableFiles> {
        self.tables.get(name)
    }
}

/// The greatest snapshot id with `_SUCCESS`: one listing of the store, then one HEAD
/// per id from the newest down until a complete one is found.
async fn latest(store: &Store) -> Result<String> {
    for id in ids(store).await?.into_iter().rev() {
        if exists(store, &store.snapshot_prefix(&id).join(SUCCESS_MARKER)).await? {
            return Ok(id);
        }
    }
    Err(Error::NoCompleteSnapshot {
        store: store.location().to_string(),
    })
}

/// A snapshot's `_manifest.json`, checked; `None` when it has none.
pub async fn read_manifest(store: &Store, id: &str) -> Result<Option<serde_json::Value>> {
    let invalid = |reason: String| Error::Manifest {
        snapshot: id.to_string(),
        reason,
    };
    let path = store.snapshot_prefix(id).join(MANIFEST_FILE);
    let Some(bytes) = store.get_if_exists(&path).await? else {
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if !value.is_object() {
        return Err(invalid("expected a JSON object".to_string()));
    }
    if let Some(v) = value.get("exported_at") {
        let text = v
            .as_str()
            .ok_or_else(|| invalid("exported_at must be an RFC 3339 string".to_string()))?;
        DateTime::parse_from_rfc3339(text)
            .map_err(|e| invalid(format!("exported_at '{text}' is not RFC 3339: {e}")))?;
    }
    Ok(Some(value))
}

/// `as_of` from a manifest's `exported_at`, else from the id.
pub fn as_of_hint(id: &str, manifest: Option<&serde_json::Value>) -> Option<AsOf> {
    let exported_at = manifest
        .and_then(|m| m.get("exported_at"))
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    if let Some(at) = exported_at {
        return Some(AsOf {
            at: at.with_timezone(&Utc),
            source: AsOfSource::Manifest,
        });
    }
    as_of_from_id(id).map(|at| AsOf {
        at,
        source: AsOfSource::SnapshotId,
    })
}

/// `YYYY-MM-DDTHHMMSSZ`, or `YYYY-MM-DD` meaning the last microsecond of that UTC day.
pub fn as_of_from_id(id: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = NaiveDateTime::parse_from_str(id, "%Y-%m-%dT%H%M%SZ") {
        return Some(t.and_utc());
    }
    let day = NaiveDate::parse_from_str(id, "%Y-%m-%d").ok()?;
    let next = day.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
    Some(next - TimeDelta::microseconds(1))
}

/// The parts of `path` below `prefix`, or `None` when it is not below it.
pub(crate) fn relative_parts(prefix: &Path, path: &Path) -> Option<Vec<String>> {
    Some(
        path.prefix_match(prefix)?
            .map(|part| part.as_ref().to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_from_day_id_is_end_of_day() {
        let at = as_of_from_id("2026-03-01").expect("parses");
        assert_eq!(at.to_rfc3339(), "2026-03-01T23:59:59.999999+00:00");
    }

    #[test]
    fn as_of_from_timestamp_id() {
        let at = as_of_from_id("2026-03-01T120000Z").expect("parses");
        assert_eq!(at.to_rfc3339(), "2026-03-01T12:00:00+00:00");
    }

    #[test]
    fn non_time_ids_have_no_as_of() {
        assert_eq!(as_of_from_id("export-7"), None);
        assert_eq!(as_of_from_id("2026-02-30"), None);
    }
}
