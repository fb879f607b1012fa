//! Where snapshots live: a location string becomes one `ObjectStore` plus a root prefix.
//!
//! Every read goes through `object_store`, so a local directory and a bucket are the same
//! code path; only [`Store::open`] knows the difference.

use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use url::Url;

use crate::error::{Error, Result};

/// A store of snapshots: a local directory or an object-store prefix.
#[derive(Debug, Clone)]
pub struct Store {
    location: String,
    /// `scheme://authority/` — the key DataFusion looks the object store up by.
    base: ObjectStoreUrl,
    object_store: Arc<dyn ObjectStore>,
    root: Path,
}

impl Store {
    /// Opens a store from what the user typed: a directory path or `s3://bucket/prefix`.
    pub fn open(location: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidStore {
            location: location.to_string(),
            reason,
        };
        if location.contains("://") {
            let url = Url::parse(location).map_err(|e| invalid(e.to_string()))?;
            return Err(invalid(format!(
                "the '{}' scheme is not supported; use a local directory",
                url.scheme()
            )));
        }
        let dir = std::fs::canonicalize(location)
            .map_err(|e| invalid(format!("{e}; pass --store DIR or set SNAPMETRICS_STORE")))?;
        if !dir.is_dir() {
            return Err(invalid("not a directory".to_string()));
        }
        let root = Path::from_filesystem_path(&dir).map_err(|e| invalid(e.to_string()))?;
        let base = ObjectStoreUrl::parse("file://").map_err(|e| invalid(e.to_string()))?;
        Ok(Store {
            location: location.to_string(),
            base,
            object_store: Arc::new(LocalFileSystem::new()),
            root,
        })
    }

    /// The location as the user gave it, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.object_store
    }

    pub fn object_store_url(&self) -> &ObjectStoreUrl {
        &self.base
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `parts` below the store root.
    pub fn child<'a>(&self, parts: impl IntoIterator<Item = &'a str>) -> Path {
        parts
            .into_iter()
            .fold(self.root.clone(), |path, part| path.join(part))
    }

    /// A URL DataFusion can list or read; `dir` adds the trailing `/` of a collection.
    pub fn url_of(&self, path: &Path, dir: bool) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        let slash = if dir { "/" } else { "" };
        format!("{base}/{path}{slash}")
    }

    /// How a path is shown to people: a filesystem path, or the object's URL.
    pub fn display(&self, path: &Path) -> String {
        if self.base.as_str().starts_with("file:") {
            format!("/{path}")
        } else {
            self.url_of(path, false)
        }
    }

    pub(crate) fn error(&self, source: object_store::Error) -> Error {
        Error::Store {
            store: self.location.clone(),
            source,
        }
    }
}
