//! The bounded cache of metric answers: one cell per (metric, filters), oldest evicted
//! first; requests for the same uncached answer wait on one cell.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::body::Bytes;
use chrono::NaiveDate;
use tokio::sync::OnceCell;

use crate::engine::session::Filters;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct MetricKey {
    pub name: String,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub active_only: bool,
}

impl MetricKey {
    pub fn filters(&self) -> Filters {
        Filters {
            from: self.from,
            to: self.to,
            active_only: self.active_only,
            ..Filters::default()
        }
    }
}

#[derive(Default)]
pub(super) struct MetricCache {
    cells: HashMap<MetricKey, Arc<OnceCell<Bytes>>>,
    order: VecDeque<MetricKey>,
}

impl MetricCache {
    /// The cell of `key`; a cache holding `capacity` entries forgets its oldest first.
    pub fn cell(&mut self, key: &MetricKey, capacity: usize) -> Arc<OnceCell<Bytes>> {
        if let Some(cell) = self.cells.get(key) {
            return cell.clone();
        }
        while self.order.len() >= capacity.max(1) {
            if let Some(oldest) = self.order.pop_front() {
                self.cells.remove(&oldest);
            }
        }
        let cell = Arc::new(OnceCell::new());
        self.cells.insert(key.clone(), cell.clone());
        self.order.push_back(key.clone());
        cell
    }
}
