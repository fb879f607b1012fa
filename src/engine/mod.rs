//! The query engine over one snapshot: the DataFusion session, the catalogue of views it
//! registers, the time functions and calendars, the tables it keeps, the duplicate-id
//! scans, and the containment of decoder panics.

pub mod calendar;
pub mod catalogue;
pub(crate) mod contain;
pub mod duplicates;
pub(crate) mod memo;
pub mod session;
