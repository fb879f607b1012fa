//! `manifest.json`: what a report pins — the tool, the snapshot and its `as_of`, every
//! option that shapes the numbers, each input file, each query's SQL hash and each
//! output's SHA-256. `report` writes it; `verify` reads it back, so both use this one
//! type and a field added here is written and checked alike.

use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::session::{Filters, TransactionsSource};
use crate::error::Result;
use crate::source::snapshot::{AsOfSource, relative_parts};
use crate::source::store::Store;

/// The file name of a report's manifest.
pub const FILE: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: Tool,
    pub snapshot: SnapshotFacts,
    pub settings: Settings,
    pub filters: Filters,
    pub inputs: Vec<InputFile>,
    pub queries: Vec<QueryHash>,
    pub outputs: Vec<OutputFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    /// This build.
    pub fn this() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotFacts {
    pub id: String,
    pub as_of: String,
    pub as_of_source: AsOfSource,
}

/// The session options that shape the numbers (filters aside).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub tz: String,
    pub transactions_source: TransactionsSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub table: String,
    /// Relative to the snapshot folder, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Local files: their SHA-256 (an mtime or inode would not survive a copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Object stores: the ETag, which costs no download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryHash {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub file: String,
    pub rows: usize,
    pub sha256: String,
}

/// The SHA-256 of every view and metric query in this build, by name, sorted: a number
/// is tied to the SQL that computed it.
pub fn query_hashes() -> Vec<QueryHash> {
    let mut hashes: Vec<QueryHash> = crate::engine::catalogue::sql_by_name()
        .chain(crate::metrics::METRICS.iter().map(|m| (m.name, m.sql)))
        .map(|(name, sql)| QueryHash {
            name: name.to_string(),
            sha256: sha256_hex(sql.as_bytes()),
        })
        .collect();
    hashes.sort_by(|a, b| a.name.cmp(&b.name));
    hashes
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of a stored object, read as a stream (never whole in memory): what the
/// report records for a local input, and what `verify` recomputes.
pub async fn object_sha256(store: &Store, location: &Path) -> Result<String> {
    let mut stream = store
        .object_store()
        .get(location)
        .await
        .map_err(|e| store.error(e))?
        .into_stream();
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk.map_err(|e| store.error(e))?);
    }
    Ok(hex(&hasher.finalize()))
}

/// An input's path as the manifest records it: relative to the snapshot folder
/// `prefix`, `/`-separated.
pub fn input_path(prefix: &Path, location: &Path) -> String {
    relative_parts(prefix, location).map_or_else(|| location.to_string(), |parts| parts.join("/"))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
