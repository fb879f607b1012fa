//! Reading published reports back: `verify` checks one against its manifest, its inputs
//! and a recomputation; `diff` compares two, row by key.

pub mod diff;
mod files;
pub mod verify;

pub use files::ReportFiles;
