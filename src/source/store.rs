//! Where snapshots live: a location string becomes one `ObjectStore` plus a root prefix.
//!
//! Every read goes through `object_store`, so a local directory and a bucket are the same
//! code path; only [`Store::open`] knows the difference.

use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::object_store::ObjectStoreUrl;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, RetryConfig};
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
    /// The directory of a local store.
    dir: Option<std::path::PathBuf>,
}

/// How to reach an S3-compatible endpoint. Unset fields fall back to the `AWS_*`
/// environment variables when `from_env` is true.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow `http://` endpoints (a local test server, say).
    pub allow_http: Option<bool>,
    /// `bucket.host/key` instead of the default `host/bucket/key`.
    pub virtual_hosted: bool,
    /// Read `AWS_*` variables for whatever is not set here.
    pub from_env: bool,
    /// Retries of a failed request, with backoff, before the error is reported.
    pub max_retries: usize,
    /// Bound on one attempt of a request. Retries start only within `max_retries` such
    /// bounds of the first attempt, so a request ends within `(max_retries + 1) ×
    /// timeout` plus the backoff (at most 2 s a retry).
    pub timeout: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: None,
            virtual_hosted: false,
            from_env: true,
            max_retries: 3,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Credential sources that need no static keys; without any of them and without keys,
/// the S3 client would probe the EC2 metadata service, which is never what a user here
/// means, so the store refuses to open instead.
const AMBIENT_CREDENTIALS: [&str; 3] = [
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// An S3 endpoint is an `http://` or `https://` URL with a host, as
/// `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`.
fn check_endpoint(name: &str, endpoint: &str) -> std::result::Result<(), String> {
    let problem = match Url::parse(endpoint) {
        Err(e) => Some(e.to_string()),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            Some("it must start with http:// or https://".to_string())
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => Some("it has no host".to_string()),
        Ok(_) => None,
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!(
            "{name} '{endpoint}' is not an endpoint URL ({problem}); write it as http://HOST:PORT or https://HOST"
        )),
    }
}

impl Store {
    /// Opens a store from what the user typed: a directory path or `s3://bucket/prefix`.
    pub fn open(location: &str) -> Result<Self> {
        Self::open_with(location, &S3Options::default())
    }

    /// Like [`Store::open`], with explicit S3 settings.
    pub fn open_with(location: &str, s3: &S3Options) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidStore {
            location: location.to_string(),
            reason,
        };
        if location.contains("://") {
            let url = Url::parse(location).map_err(|e| invalid(e.to_string()))?;
            return match url.scheme() {
                "s3" | "s3a" => Self::open_s3(location, &url, s3),
                other => Err(invalid(format!(
                    "the '{other}' scheme is not supported; use a directory or s3://bucket/prefix"
                ))),
            };
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
            dir: Some(dir),
        })
    }

    fn open_s3(location: &str, url: &Url, s3: &S3Options) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidStore {
            location: location.to_string(),
            reason,
        };
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| invalid("no bucket: use s3://bucket/prefix".to_string()))?;
        let mut builder = if s3.from_env {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
        };
        builder = builder.with_bucket_name(bucket);
        if let Some(endpoint) = &s3.endpoint {
            check_endpoint("--s3-endpoint", endpoint).map_err(invalid)?;
            builder = builder.with_endpoint(endpoint);
        }
        if s3.from_env && s3.endpoint.is_none() {
            // object_store panics on some malformed endpoints: check them first.
            for variable in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"] {
                if let Ok(endpoint) = std::env::var(variable) {
                    check_endpoint(variable, &endpoint).map_err(invalid)?;
                }
            }
        }
        if let Some(region) = &s3.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &s3.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &s3.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(allow) = s3.allow_http {
            builder = builder.with_allow_http(allow);
        }
        if s3.virtual_hosted {
            builder = builder.with_virtual_hosted_style_request(true);
        }
        let has_keys = s3.access_key_id.is_some()
            || (s3.from_env && std::env::var_os("AWS_ACCESS_KEY_ID").is_some());
        let has_ambient = s3.from_env
            && AMBIENT_CREDENTIALS
                .iter()
                .any(|v| std::env::var_os(v).is_some());
        if !has_keys && !has_ambient {
            return Err(invalid(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string(),
            ));
        }
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: s3.max_retries,
            // Not `timeout` itself: an attempt that timed out would never be retried.
            retry_timeout: s3
                .timeout
                .saturating_mul(s3.max_retries.try_into().unwrap_or(u32::MAX)),
        };
        // Set key by key: `with_client_options` would drop AWS_ALLOW_HTTP read from the env.
        let seconds = |d: Duration| format!("{}ms", d.as_millis());
        let object_store = builder
            .with_retry(retry)
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                seconds(s3.timeout),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                seconds(s3.timeout.min(Duration::from_secs(5))),
            )
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let base =
            ObjectStoreUrl::parse(format!("s3://{bucket}")).map_err(|e| invalid(e.to_string()))?;
        let root = Path::from(url.path().trim_matches('/'));
        Ok(Store {
            location: location.to_string(),
            base,
            object_store: Arc::new(object_store),
            root,
            dir: None,
        })
    }

    /// The directory of a local store (canonical: symbolic links resolved).
    pub fn local_dir(&self) -> Option<&std::path::Path> {
        self.dir.as_deref()
    }

    pub fn is_local(&self) -> bool {
        self.base.as_str().starts_with("file:")
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

    /// The folder of snapshot `id`, spelt as the store's own listings spell it: a local
    /// folder named `a%b` is listed as `a%b`, which [`Store::child`] would encode as
    /// `a%25b`, and then no listed file would be found below it.
    pub fn snapshot_prefix(&self, id: &str) -> Path {
        self.dir
            .as_ref()
            .and_then(|dir| Path::from_absolute_path(dir.join(id)).ok())
            .unwrap_or_else(|| self.child([id]))
    }

    /// The snapshot ids of a local store, read from the directory itself: a folder whose
    /// name `object_store` cannot represent (a control character) would fail the whole
    /// listing. Such names are returned apart, to be reported, never opened.
    pub(crate) fn local_ids(&self) -> Option<std::io::Result<(Vec<String>, Vec<String>)>> {
        let dir = self.dir.as_ref()?;
        let listed = std::fs::read_dir(dir).and_then(|entries| {
            let mut ids = Vec::new();
            let mut unusable = Vec::new();
            for entry in entries {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().to_string();
                if name.chars().any(char::is_control) || entry.file_name().to_str().is_none() {
                    unusable.push(name);
                } else {
                    ids.push(name);
                }
            }
            Ok((ids, unusable))
        });
        Some(listed)
    }

    /// A URL DataFusion can list or read; `dir` adds the trailing `/` of a collection.
    /// Each part is percent-encoded, so a `%`, `\\` or `#` in a name reaches the same
    /// object rather than being read as URL syntax.
    pub fn url_of(&self, path: &Path, dir: bool) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        let Ok(mut url) = Url::parse(&format!("{base}/")) else {
            let slash = if dir { "/" } else { "" };
            return format!("{base}/{path}{slash}");
        };
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path.parts());
            if dir {
                segments.push("");
            }
        }
        url.to_string()
    }

    /// How a path is shown to people: a filesystem path, or the object's URL.
    pub fn display(&self, path: &Path) -> String {
        if self.is_local() {
            format!("/{path}")
        } else {
            self.url_of(path, false)
        }
    }

    /// The bytes of the object at `path`, or `None` when there is none.
    pub(crate) async fn get_if_exists(&self, path: &Path) -> Result<Option<bytes::Bytes>> {
        match self.object_store.get(path).await {
            Ok(result) => result.bytes().await.map(Some).map_err(|e| self.error(e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Deletes every object below `prefix`, as far as it can; returns how many it could
    /// not delete.
    pub(crate) async fn remove_prefix(&self, prefix: &Path) -> usize {
        let listed: Vec<Path> = self
            .object_store
            .list(Some(prefix))
            .filter_map(|m| async move { m.ok().map(|m| m.location) })
            .collect()
            .await;
        let mut left = 0;
        for path in &listed {
            if self.object_store.delete(path).await.is_err() {
                left += 1;
            }
        }
        left
    }

    pub(crate) fn error(&self, source: object_store::Error) -> Error {
        Error::Store {
            store: self.location.clone(),
            source,
        }
    }
}
