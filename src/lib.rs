//! snapmetrics: cohort, activation and vanity metrics over Parquet snapshots of the
//! app's PostgreSQL tables, computed in-process with Apache DataFusion.

pub mod calendar;
pub mod catalogue;
pub mod check;
pub mod cli;
mod contain;
pub mod customer;
pub mod duplicates;
pub mod error;
pub mod generate;
pub mod html;
mod memo;
pub mod metrics;
pub mod output;
pub mod publish;
pub mod report;
pub mod schema;
pub mod serve;
pub mod session;
pub mod snapshot;
pub mod store;
pub mod table;

pub use datafusion;
pub use error::{Error, ErrorKind, Result};
