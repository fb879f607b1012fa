//! Cancellation that takes effect. A query stops when its stream is dropped, but its
//! tasks stop only where they yield to the scheduler, and a cross or nested-loop join
//! yields only when it reads its input: from one batch of input it can produce hours of
//! output (each left row times the batch), holding an engine thread all the while. The
//! shell's Ctrl-C would return to the prompt while the cancelled join went on using
//! the threads the next query needs.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{CrossJoinExec, NestedLoopJoinExec};

/// Puts a [`CooperativeExec`] above every cross and nested-loop join, so that each
/// batch they produce spends the task's scheduling budget and the task yields (and can
/// be aborted) every few batches. Other operators' output is bounded by their input,
/// whose scans already yield.
#[derive(Debug, Default)]
pub struct YieldingJoins;

impl PhysicalOptimizerRule for YieldingJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let any: &dyn std::any::Any = node.as_ref();
            if any.is::<CrossJoinExec>() || any.is::<NestedLoopJoinExec>() {
                Ok(Transformed::yes(Arc::new(CooperativeExec::new(node)) as _))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "YieldingJoins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
