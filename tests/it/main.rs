//! One integration-test binary; fixtures are built in code, in temporary stores.

mod activity;
mod audit;
mod cli;
mod cluster;
mod customer;
mod differential;
mod discovery;
mod duplicates;
mod faults;
mod fixtures;
mod fuzz;
mod hostile;
mod html;
mod metrics;
mod names;
mod normalise;
mod postgres;
mod regression;
mod report;
mod s3;
mod serve;
mod shell;
mod sql;
mod summary;
