//! snapmetrics: cohort, activation and vanity metrics over Parquet snapshots of the
//! app's PostgreSQL tables, computed in-process with Apache DataFusion.
//!
//! The modules are the layers, each using only those above it:
//! [`source`] (stores, snapshots, the canonical schemas, source tables), [`engine`]
//! (the DataFusion session, its catalogue of views, time functions and calendars),
//! [`metrics`] (the metric definitions, the data-quality check, customer records),
//! [`output`] (result formats, the report, atomic publishing, the HTML page),
//! [`audit`] (published reports read back: verify, diff), [`api`] (the HTTP API), [`cli`] (the command line) and [`generate`] (synthetic
//! snapshots).

pub mod api;
pub mod audit;
pub mod cli;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod engine;
pub mod error;
pub mod export;
pub mod generate;
pub mod metrics;
pub mod output;
pub mod source;

pub use datafusion;
pub use error::{Error, ErrorKind, Result};
