//! `verify`: a published report against its manifest, the snapshot it was computed
//! from, this build's definitions, and a recomputation with the recorded options.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use futures::{StreamExt, TryStreamExt};

use super::ReportFiles;
use crate::engine::session::{Session, SessionOptions};
use crate::error::{Error, Result};
use crate::output::manifest::{
    self, InputFile, Manifest, Tool, input_path, object_sha256, query_hashes, sha256_hex,
};
use crate::output::report;
use crate::source::schema;
use crate::source::snapshot::Snapshot;
use crate::source::store::Store;

/// The four things `verify` checks, in the order it checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Area {
    /// The files the manifest lists, against their SHA-256.
    Outputs,
    /// The snapshot's files, against their recorded sizes and checksums.
    Inputs,
    /// This build's version and SQL, against the recorded hashes.
    Definitions,
    /// The report computed again, byte for byte.
    Recomputation,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Area::Outputs => "outputs",
            Area::Inputs => "inputs",
            Area::Definitions => "definitions",
            Area::Recomputation => "recomputation",
        })
    }
}

/// One line of the verdict: a check that held, or one thing that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub area: Area,
    pub holds: bool,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.holds { "ok  " } else { "FAIL" };
        write!(f, "{status} {}: {}", self.area, self.message)
    }
}

/// Every finding, in check order.
#[derive(Debug, Default)]
pub struct Verification {
    pub findings: Vec<Finding>,
    /// Bytes of input read to check their SHA-256.
    pub input_bytes_hashed: u64,
}

impl Verification {
    /// Whether everything checked held.
    pub fn holds(&self) -> bool {
        self.findings.iter().all(|f| f.holds)
    }

    fn differs(&mut self, area: Area, message: impl Into<String>) {
        self.findings.push(Finding {
            area,
            holds: false,
            message: message.into(),
        });
    }

    /// Adds the summary line of `area` when nothing in it differed.
    fn held(&mut self, area: Area, message: impl Into<String>) {
        if self.findings.iter().all(|f| f.area != area) {
            self.findings.push(Finding {
                area,
                holds: true,
                message: message.into(),
            });
        }
    }
}

/// How far `verify` goes.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Recompute the report and compare it byte for byte (the expensive step).
    pub recompute: bool,
    /// The session's memory limit for the recomputation.
    pub memory_limit: Option<usize>,
}

/// Checks `report` against its manifest and the snapshot in `store`. An unreadable
/// report, manifest or store is an error; anything that differs is a finding.
pub async fn verify(
    report: &ReportFiles,
    store: &Store,
    options: &VerifyOptions,
) -> Result<Verification> {
    let manifest = report.manifest().await?;
    let mut verdict = Verification::default();
    let published = check_outputs(report, &manifest, &mut verdict).await?;
    let snapshot = Snapshot::open(store, &manifest.snapshot.id, true).await?;
    check_inputs(store, &snapshot, &manifest, &mut verdict).await?;
    let inputs_hold = verdict
        .findings
        .iter()
        .all(|f| f.area != Area::Inputs || f.holds);
    check_definitions(&manifest, &mut verdict);
    if options.recompute {
        let mut recomputed = Verification::default();
        match recompute(
            store,
            snapshot,
            &manifest,
            &published,
            options,
            &mut recomputed,
        )
        .await
        {
            Ok(()) => verdict.findings.extend(recomputed.findings),
            // Inputs that changed can be what breaks the recomputation (a rewritten
            // file that no longer parses): that is a difference, already named above.
            Err(e) if !inputs_hold => verdict.differs(
                Area::Recomputation,
                format!("could not recompute from the changed inputs: {e}"),
            ),
            Err(e) => return Err(e),
        }
    }
    Ok(verdict)
}

/// Every listed output against its SHA-256, and every file the manifest does not list.
/// Returns the published bytes by name, for the recomputation to compare with.
async fn check_outputs(
    report: &ReportFiles,
    manifest: &Manifest,
    verdict: &mut Verification,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut published = BTreeMap::new();
    for output in &manifest.outputs {
        match report.read(&output.file).await? {
            None => verdict.differs(Area::Outputs, format!("{}: missing", output.file)),
            Some(bytes) => {
                let sha256 = sha256_hex(&bytes);
                if sha256 != output.sha256 {
                    verdict.differs(
                        Area::Outputs,
                        format!(
                            "{}: SHA-256 {} differs from the manifest's {}",
                            output.file,
                            short(&sha256),
                            short(&output.sha256)
                        ),
                    );
                }
                published.insert(output.file.clone(), bytes);
            }
        }
    }
    let listed: BTreeSet<&str> = manifest
        .outputs
        .iter()
        .map(|o| o.file.as_str())
        .chain([manifest::FILE])
        .collect();
    for name in report.list().await? {
        if !listed.contains(name.as_str()) {
            verdict.differs(
                Area::Outputs,
                format!("{name}: in the report folder, not in the manifest"),
            );
        }
    }
    verdict.held(
        Area::Outputs,
        format!(
            "{} files match the SHA-256 in {}",
            manifest.outputs.len(),
            manifest::FILE
        ),
    );
    Ok(published)
}

/// The snapshot's files now against the recorded ones: the same paths, sizes and
/// checksums (SHA-256 for a local store, ETag for S3), read once each.
async fn check_inputs(
    store: &Store,
    snapshot: &Snapshot,
    manifest: &Manifest,
    verdict: &mut Verification,
) -> Result<()> {
    let recorded: BTreeMap<&str, &InputFile> = manifest
        .inputs
        .iter()
        .map(|i| (i.path.as_str(), i))
        .collect();
    let recorded_tables: BTreeSet<&str> =
        manifest.inputs.iter().map(|i| i.table.as_str()).collect();
    let prefix = store.snapshot_prefix(&snapshot.id);
    let mut current = Vec::new();
    for table in snapshot.tables.values() {
        // A report reads PII tables only with --include-pii; their files are inputs
        // only when the report recorded them.
        let pii = schema::is_pii_table(&table.name);
        if pii && !recorded_tables.contains(table.name.as_str()) {
            continue;
        }
        for meta in &table.files {
            let path = input_path(&prefix, &meta.location);
            current.push((table.name.clone(), path, meta.clone()));
        }
    }
    if !snapshot.complete {
        verdict.differs(
            Area::Inputs,
            format!("snapshot '{}' has no _SUCCESS file any more", snapshot.id),
        );
    }
    let present: BTreeSet<&str> = current.iter().map(|(_, path, _)| path.as_str()).collect();
    for input in &manifest.inputs {
        if !present.contains(input.path.as_str()) {
            verdict.differs(
                Area::Inputs,
                format!(
                    "{} ({}): removed from the snapshot",
                    input.path, input.table
                ),
            );
        }
    }
    let checked: Vec<Option<String>> = futures::stream::iter(&current)
        .map(|(table, path, meta)| {
            let recorded = recorded.get(path.as_str()).copied();
            async move {
                let Some(recorded) = recorded else {
                    return Ok::<_, Error>((
                        Some(format!("{path} ({table}): added since the report")),
                        0,
                    ));
                };
                if meta.size != recorded.size {
                    return Ok((
                        Some(format!(
                            "{path}: {} bytes, the report read {}",
                            meta.size, recorded.size
                        )),
                        0,
                    ));
                }
                if let Some(sha256) = &recorded.sha256 {
                    let now = object_sha256(store, &meta.location).await?;
                    let finding = (now != *sha256).then(|| {
                        format!(
                            "{path}: same size, different content (SHA-256 {}, the report read {})",
                            short(&now),
                            short(sha256)
                        )
                    });
                    return Ok((finding, meta.size));
                }
                let finding = match (&recorded.etag, &meta.e_tag) {
                    (Some(then), Some(now)) if then != now => {
                        Some(format!("{path}: ETag {now}, the report read {then}"))
                    }
                    (Some(_), None) => Some(format!(
                        "{path}: the report recorded an ETag; this store gives none to compare"
                    )),
                    _ => None,
                };
                Ok((finding, 0))
            }
        })
        .buffered(4)
        .map_ok(|(finding, hashed)| {
            verdict.input_bytes_hashed += hashed;
            finding
        })
        .try_collect()
        .await?;
    for finding in checked.into_iter().flatten() {
        verdict.differs(Area::Inputs, finding);
    }
    let how = if manifest.inputs.iter().any(|i| i.sha256.is_some()) {
        "sizes and SHA-256"
    } else {
        "sizes and ETags"
    };
    verdict.held(
        Area::Inputs,
        format!(
            "{} files of snapshot '{}' match their {how}",
            manifest.inputs.len(),
            snapshot.id
        ),
    );
    Ok(())
}

/// This build's version and every query's SQL hash against the recorded ones.
fn check_definitions(manifest: &Manifest, verdict: &mut Verification) {
    let this = Tool::this();
    if manifest.tool.version != this.version {
        verdict.differs(
            Area::Definitions,
            format!(
                "the report was made by snapmetrics {}, this is {}",
                manifest.tool.version, this.version
            ),
        );
    }
    let recorded: BTreeMap<&str, &str> = manifest
        .queries
        .iter()
        .map(|q| (q.name.as_str(), q.sha256.as_str()))
        .collect();
    let current = query_hashes();
    for query in &current {
        match recorded.get(query.name.as_str()) {
            None => verdict.differs(
                Area::Definitions,
                format!("query '{}' is new in this build", query.name),
            ),
            Some(&then) if then != query.sha256 => verdict.differs(
                Area::Definitions,
                format!(
                    "query '{}' changed: SQL SHA-256 {} here, {} in the report",
                    query.name,
                    short(&query.sha256),
                    short(then)
                ),
            ),
            Some(_) => {}
        }
    }
    for name in recorded.keys() {
        if !current.iter().any(|q| q.name == *name) {
            verdict.differs(
                Area::Definitions,
                format!("query '{name}' is in the report, not in this build"),
            );
        }
    }
    verdict.held(
        Area::Definitions,
        format!(
            "snapmetrics {}, {} query hashes match",
            this.version,
            current.len()
        ),
    );
}

/// The report computed again with the recorded options, each file compared byte for
/// byte; for a CSV, the first row that differs.
async fn recompute(
    store: &Store,
    snapshot: Snapshot,
    manifest: &Manifest,
    published: &BTreeMap<String, Vec<u8>>,
    options: &VerifyOptions,
    verdict: &mut Verification,
) -> Result<()> {
    let tz = crate::engine::time::parse_zone(&manifest.settings.tz).map_err(|_| Error::Report {
        report: manifest.snapshot.id.clone(),
        reason: format!(
            "{}: settings.tz '{}' is not an IANA time zone",
            manifest::FILE,
            manifest.settings.tz
        ),
    })?;
    let include_pii = manifest
        .inputs
        .iter()
        .any(|i| schema::is_pii_table(&i.table));
    let session_options = SessionOptions {
        include_pii,
        tz,
        transactions_source: Some(manifest.settings.transactions_source),
        memory_limit: options.memory_limit,
        cluster: None,
        definitions_only: false,
    };
    let session = Session::open(store, snapshot, session_options).await?;
    let as_of = session
        .as_of()
        .at
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    if as_of != manifest.snapshot.as_of {
        verdict.differs(
            Area::Recomputation,
            format!(
                "as_of is now {as_of} ({}), the report used {}",
                session.as_of().source,
                manifest.snapshot.as_of
            ),
        );
    }
    let formats = report::formats_of(&manifest.outputs);
    let built = report::build(&session, &manifest.filters, &formats).await?;
    let mut compared = 0;
    for (name, bytes) in &built.files {
        if name == manifest::FILE {
            continue;
        }
        compared += 1;
        match published.get(name) {
            None => verdict.differs(
                Area::Recomputation,
                format!("{name}: recomputed, but the report has no such file"),
            ),
            Some(old) if old != bytes => {
                let detail = first_difference(name, old, bytes);
                verdict.differs(Area::Recomputation, format!("{name}: {detail}"));
            }
            Some(_) => {}
        }
    }
    for name in published.keys() {
        if !built.files.iter().any(|(n, _)| n == name) {
            verdict.differs(
                Area::Recomputation,
                format!("{name}: in the report, not recomputed by this build"),
            );
        }
    }
    verdict.held(
        Area::Recomputation,
        format!("{compared} files recomputed byte for byte"),
    );
    Ok(())
}

/// Where a published file and its recomputation part: for a CSV the first row that
/// differs, named by its key columns.
fn first_difference(name: &str, published: &[u8], recomputed: &[u8]) -> String {
    if !name.ends_with(".csv") {
        return format!(
            "differs from its recomputation ({} bytes published, {} recomputed)",
            published.len(),
            recomputed.len()
        );
    }
    let (old, new) = (
        String::from_utf8_lossy(published),
        String::from_utf8_lossy(recomputed),
    );
    let header: Vec<&str> = new.lines().next().unwrap_or_default().split(',').collect();
    let key: Vec<usize> = crate::metrics::by_file(name)
        .and_then(|metric| metric.key_positions(&header))
        .unwrap_or_default();
    let mut old_lines = old.lines();
    let mut new_lines = new.lines();
    let mut line = 0;
    loop {
        line += 1;
        match (old_lines.next(), new_lines.next()) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                let fields: Vec<&str> = b.split(',').collect();
                let named: Vec<String> = key
                    .iter()
                    .filter_map(|&i| Some(format!("{}={}", header.get(i)?, fields.get(i)?)))
                    .collect();
                let at = if named.is_empty() || line == 1 {
                    format!("line {line}")
                } else {
                    format!("line {line} ({})", named.join(", "))
                };
                return format!(
                    "differs at {at}: published '{}', recomputed '{}'",
                    crate::output::printable(a),
                    crate::output::printable(b)
                );
            }
            (Some(a), None) => {
                return format!(
                    "the recomputation ends before line {line}: published '{}'",
                    crate::output::printable(a)
                );
            }
            (None, Some(b)) => {
                return format!(
                    "the published file ends before line {line}: recomputed '{}'",
                    crate::output::printable(b)
                );
            }
            (None, None) => return "differs only in its line endings".to_string(),
        }
    }
}

/// The first 12 hex digits: enough to tell two hashes apart in a message.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
