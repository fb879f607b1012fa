//! A published report's files, in a local folder or below an `s3://` prefix.

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use crate::error::{Error, Result};
use crate::output::manifest::{self, Manifest};
use crate::output::publish::Pointer;
use crate::source::snapshot::relative_parts;
use crate::source::store::{S3Options, Store};

/// The files of one report, read through the same object store as snapshots.
pub struct ReportFiles {
    store: Store,
    /// The report's folder: the store root, or the run a prefix's pointer names.
    root: ObjectPath,
}

impl ReportFiles {
    /// Opens the report at `location`: a folder, or `s3://bucket/prefix`, where the report
    /// is the one its `current.json` names (or, from before pointers, the top level).
    pub async fn open(location: &str, s3: &S3Options) -> Result<Self> {
        if !location.contains("://") && !std::path::Path::new(location).is_dir() {
            return Err(Error::Report {
                report: location.to_string(),
                reason: "no such folder; give the folder `snapmetrics report --out` wrote"
                    .to_string(),
            });
        }
        let store = Store::open_with(location, s3).map_err(|e| Error::Report {
            report: location.to_string(),
            reason: e.to_string(),
        })?;
        let pointer = match store.is_local() {
            true => None,
            false => Pointer::read(&store).await?,
        };
        let root = pointer.map_or_else(|| store.root().clone(), |p| p.folder(&store));
        Ok(ReportFiles { store, root })
    }

    /// The location as the user gave it.
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// Every file's name relative to the report, `/`-separated, sorted.
    pub async fn list(&self) -> Result<Vec<String>> {
        let root = self.root.clone();
        let objects: Vec<object_store::ObjectMeta> = self
            .store
            .object_store()
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(|e| self.error(e.to_string()))?;
        let mut names: Vec<String> = objects
            .iter()
            .filter_map(|o| relative_parts(&root, &o.location))
            .map(|parts| parts.join("/"))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The bytes of file `name`, or `None` when it is not there.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = name
            .split('/')
            .fold(self.root.clone(), |path, part| path.join(part));
        match self.store.object_store().get(&path).await {
            Ok(result) => {
                let bytes = result
                    .bytes()
                    .await
                    .map_err(|e| self.error(format!("{name}: {e}")))?;
                Ok(Some(bytes.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(format!("{name}: {e}"))),
        }
    }

    /// The report's `manifest.json`; an error (exit 2) when it is missing or is not a
    /// snapmetrics manifest.
    pub async fn manifest(&self) -> Result<Manifest> {
        let bytes = self.read(manifest::FILE).await?.ok_or_else(|| {
            self.error(format!(
                "no {}: not a snapmetrics report, or one still being written",
                manifest::FILE
            ))
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            self.error(format!(
                "{} is not a snapmetrics manifest ({e})",
                manifest::FILE
            ))
        })?;
        if manifest.tool.name != env!("CARGO_PKG_NAME") {
            return Err(self.error(format!(
                "{} was written by '{}', not snapmetrics",
                manifest::FILE,
                manifest.tool.name
            )));
        }
        Ok(manifest)
    }

    fn error(&self, reason: String) -> Error {
        Error::Report {
            report: self.store.location().to_string(),
            reason,
        }
    }
}
