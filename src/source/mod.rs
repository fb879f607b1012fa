//! Where the data comes from: a store of snapshots (local or S3), one snapshot's files,
//! the canonical schema of each table, and each table checked and registered.

pub mod schema;
pub mod snapshot;
pub mod store;
pub mod table;
