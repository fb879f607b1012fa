//! The query engine over one snapshot: the DataFusion session, the catalogue of views it
//! registers, the time functions (`time`) and calendar tables (`calendar`), the tables it keeps, the duplicate-id
//! scans, the small tables a cluster's plans carry as `VALUES` (`portable`), the
//! containment of decoder panics, joins that yield so that cancelling works, and the
//! description of what it holds.

pub mod calendar;
pub mod catalogue;
pub(crate) mod contain;
pub mod describe;
pub mod duplicates;
pub(crate) mod memo;
pub(crate) mod portable;
pub mod remote;
pub mod session;
pub(crate) mod summary;
pub mod time;
pub(crate) mod values;
pub(crate) mod yielding;
