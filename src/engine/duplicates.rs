//! The ids that occur more than once in a table, found without hashing every id.
//!
//! The data-quality views rank only the rows whose id repeats, so every session needs the
//! repeated ids of users, user_events, transactions_all and onboarding_responses. The
//! definition, `SELECT id FROM t GROUP BY id HAVING count(*) > 1`, builds a hash table of
//! every id: at 1 M users that is 100 M entries, about 15 s and several GB, spilled under
//! a memory limit. Exported keys are dense serials, in (or close to) id order, which
//! allows exact methods that keep almost nothing in memory.
//!
//! When the ids span at most [`Limits::bitmap_span`] values (serial keys are dense; the
//! span comes from the files' statistics), one scan marks each id in a bitmap and an id
//! found already marked repeats. Otherwise:
//!
//! 1. Scan the id column once, file by file in file order, keeping each file's smallest
//!    and largest id and every id not greater than the largest one before it in that
//!    file. The second copy of an id within a file is always such a *candidate*; a copy
//!    in another file lies where the two files' ranges overlap.
//! 2. No candidates and no overlaps: no id repeats. Otherwise every repeat is a
//!    candidate or lies in an overlap, and a second scan looks only at those ids:
//!    - when those span at most [`Limits::bitmap_span`] values, the bitmap as above;
//!    - else, if there are no candidates, every file is strictly increasing, so
//!      DataFusion's sort-preserving merge of the files yields the ids in order and
//!      repeats are neighbours;
//!    - else it counts the candidates and the ids inside the overlaps.
//!
//! Order only decides the cost, never the answer. When the ids are far from sorted (more
//! than [`Limits::remembered`] to remember or count), [`find`] returns `None` and the
//! caller runs the aggregate.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::functions_aggregate::expr_fn::{max, min};
use datafusion::physical_expr::expressions::{Column, IsNotNullExpr};
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::{SessionContext, col};
use futures::StreamExt;

/// How much [`find`] may hold before it gives up (`None`) and the aggregate is cheaper.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Ids remembered (candidates) or counted by one scan.
    pub remembered: usize,
    /// Widest span of ids checked with a bitmap, in ids (bits).
    pub bitmap_span: u64,
}

impl Default for Limits {
    /// A million ids (a few tens of MB) and a 128 MB bitmap.
    fn default() -> Self {
        Limits {
            remembered: 1 << 20,
            bitmap_span: 1 << 30,
        }
    }
}

/// Files are scanned one per partition up to this many partitions (more files share one).
const MAX_PARTITIONS: usize = 256;

/// The non-NULL values of `table`.`id` that occur more than once, ascending; `None` when
/// the column is not Int64 or the ids are too far from sorted for this method.
pub async fn find(ctx: &SessionContext, table: &str) -> Result<Option<Vec<i64>>> {
    find_with(ctx, table, Limits::default()).await
}

/// [`find`] within explicit [`Limits`].
pub async fn find_with(
    ctx: &SessionContext,
    table: &str,
    limits: Limits,
) -> Result<Option<Vec<i64>>> {
    let limit = limits.remembered;
    let (plan, task) = scan_by_file(ctx, table).await?;
    if plan.schema().field(0).data_type() != &DataType::Int64 {
        return Ok(None);
    }
    let Some((lo, hi)) = id_range(ctx, table).await? else {
        return Ok(Some(Vec::new()));
    };
    if let Some(bitmap) = Bitmap::new(lo, hi, limits.bitmap_span) {
        return marked_repeats(&task, &plan, bitmap, limit, Outside::GiveUp).await;
    }

    let mut ranges = Vec::new();
    let mut candidates = HashSet::new();
    for scan in each_partition(&task, &plan, || FirstScan::new(limit)).await? {
        let Some(scan) = scan else { return Ok(None) };
        if let Some(range) = scan.range {
            ranges.push(range);
        }
        candidates.extend(scan.candidates);
        if candidates.len() > limit {
            return Ok(None);
        }
    }
    let overlaps = overlaps(&ranges);
    let span = overlaps
        .iter()
        .copied()
        .chain(candidates.iter().map(|&id| (id, id)))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    let Some((lo, hi)) = span else {
        return Ok(Some(Vec::new()));
    };
    if let Some(bitmap) = Bitmap::new(lo, hi, limits.bitmap_span) {
        return marked_repeats(&task, &plan, bitmap, limit, Outside::Skip).await;
    }
    if candidates.is_empty() {
        return merged_repeats(task, plan).await;
    }

    let to_count = Arc::new(ToCount {
        candidates,
        overlaps,
    });
    let mut counts: HashMap<i64, u64> = HashMap::new();
    for scan in each_partition(&task, &plan, || Counting::new(to_count.clone(), limit)).await? {
        let Some(scan) = scan else { return Ok(None) };
        for (id, n) in scan.counts {
            *counts.entry(id).or_default() += n;
        }
        if counts.len() > limit {
            return Ok(None);
        }
    }
    let mut repeated: Vec<i64> = counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id)
        .collect();
    repeated.sort_unstable();
    Ok(Some(repeated))
}

/// The smallest and largest id: from the files' statistics when they have them, which
/// [`Outside::GiveUp`] does not trust blindly.
async fn id_range(ctx: &SessionContext, table: &str) -> Result<Option<(i64, i64)>> {
    let batches = ctx
        .table(table)
        .await?
        .aggregate(vec![], vec![min(col("id")), max(col("id"))])?
        .collect()
        .await?;
    let value = |column: usize| {
        batches
            .first()
            .and_then(|b| b.column(column).as_primitive_opt::<Int64Type>())
            .filter(|a| a.len() == 1 && a.is_valid(0))
            .map(|a| a.value(0))
    };
    Ok(value(0).zip(value(1)))
}

/// What a marking scan does with an id outside its bitmap's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outside {
    /// The span is every id's (from statistics): a file disagrees, so give up.
    GiveUp,
    /// The span is where repeats can be: ids outside it are not repeats.
    Skip,
}

/// Marks every id in `bitmap`: the ids found already marked repeat.
async fn marked_repeats(
    task: &Arc<TaskContext>,
    plan: &Arc<dyn ExecutionPlan>,
    bitmap: Bitmap,
    limit: usize,
    outside: Outside,
) -> Result<Option<Vec<i64>>> {
    let bitmap = Arc::new(bitmap);
    let mut repeated = Vec::new();
    for scan in each_partition(task, plan, || Marking::new(bitmap.clone(), limit, outside)).await? {
        let Some(scan) = scan else { return Ok(None) };
        repeated.extend(scan.repeats);
    }
    repeated.sort_unstable();
    repeated.dedup();
    Ok(Some(repeated))
}

/// The id column of `table`, one partition per file (up to [`MAX_PARTITIONS`]) read in
/// file order, and the context to run it with (it may be run more than once).
async fn scan_by_file(
    ctx: &SessionContext,
    table: &str,
) -> Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>)> {
    let mut state = ctx.state();
    let options = state.config_mut().options_mut();
    options.execution.target_partitions = MAX_PARTITIONS;
    options.optimizer.repartition_file_scans = false;
    // Otherwise an idle partition reads its siblings' files, and the queue of files is
    // shared by every execution of the plan: the second pass would read nothing.
    options.execution.enable_file_stream_work_stealing = false;
    let plan = ctx
        .table(table)
        .await?
        .select_columns(&["id"])?
        .into_unoptimized_plan();
    Ok((state.create_physical_plan(&plan).await?, state.task_ctx()))
}

/// The repeats among partitions whose ids are each strictly increasing: merged into one
/// ascending stream, a repeat is equal to the id before it. `None` if the stream is not
/// in order after all (a file changed since the first scan).
async fn merged_repeats(
    task: Arc<TaskContext>,
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Option<Vec<i64>>> {
    let id = Arc::new(Column::new("id", 0)) as Arc<dyn PhysicalExpr>;
    // The merge takes a partition's NULLs to be all at its start: drop them first.
    let plan = Arc::new(FilterExec::try_new(
        Arc::new(IsNotNullExpr::new(id.clone())),
        plan,
    )?);
    let Some(ordering) = LexOrdering::new([PhysicalSortExpr::new_default(id)]) else {
        return Ok(None);
    };
    let merged = Arc::new(SortPreservingMergeExec::new(ordering, plan));
    crate::engine::contain::contained(async move {
        let mut stream = merged.execute(0, task)?;
        let mut last = None;
        let mut repeated = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let Some(ids) = batch.column(0).as_primitive_opt::<Int64Type>() else {
                return Ok(None);
            };
            for id in ids.iter().flatten() {
                match last {
                    Some(before) if id < before => return Ok(None),
                    Some(before) if id == before => {
                        if repeated.last() != Some(&id) {
                            repeated.push(id);
                        }
                    }
                    _ => last = Some(id),
                }
            }
        }
        Ok(Some(repeated))
    })
    .await
}

/// What one partition's scan keeps, fed its ids batch by batch.
trait Scan: Send + 'static {
    /// Looks at the next ids; false once the scan has seen too many to keep, which gives
    /// up on the method.
    fn push(&mut self, ids: &Int64Array) -> bool;
}

/// Runs one scan per output partition of `plan`, concurrently, each on a task of its own
/// (so the partitions decode on different threads and a decoder panic is an error).
async fn each_partition<S: Scan>(
    task: &Arc<TaskContext>,
    plan: &Arc<dyn ExecutionPlan>,
    new: impl Fn() -> S,
) -> Result<Vec<Option<S>>> {
    let partitions = plan.properties().partitioning.partition_count();
    let mut tasks = Vec::with_capacity(partitions);
    for partition in 0..partitions {
        let stream = plan.execute(partition, task.clone())?;
        tasks.push(crate::engine::contain::contained(run(stream, new())));
    }
    futures::future::try_join_all(tasks).await
}

async fn run<S: Scan>(mut stream: SendableRecordBatchStream, mut scan: S) -> Result<Option<S>> {
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let Some(ids) = batch.column(0).as_primitive_opt::<Int64Type>() else {
            return Err(DataFusionError::Internal(
                "duplicate ids: the id column is not Int64".to_string(),
            ));
        };
        if !scan.push(ids) {
            return Ok(None);
        }
    }
    Ok(Some(scan))
}

/// Pass 1: the partition's id range and the ids that are not above the largest before
/// (at most `limit` of them).
struct FirstScan {
    limit: usize,
    range: Option<(i64, i64)>,
    candidates: Vec<i64>,
}

impl FirstScan {
    fn new(limit: usize) -> Self {
        FirstScan {
            limit,
            range: None,
            candidates: Vec::new(),
        }
    }
}

impl Scan for FirstScan {
    fn push(&mut self, ids: &Int64Array) -> bool {
        let mut visit = |id: i64| match &mut self.range {
            None => self.range = Some((id, id)),
            Some((min, max)) => {
                if id > *max {
                    *max = id;
                } else {
                    *min = (*min).min(id);
                    self.candidates.push(id);
                }
            }
        };
        if ids.null_count() == 0 {
            ids.values().iter().for_each(|&id| visit(id));
        } else {
            ids.iter().flatten().for_each(visit);
        }
        self.candidates.len() <= self.limit
    }
}

/// The ids pass 2 counts: the candidates, and every id inside an overlap of two
/// partitions' ranges (sorted, disjoint, inclusive).
struct ToCount {
    candidates: HashSet<i64>,
    overlaps: Vec<(i64, i64)>,
}

impl ToCount {
    fn contains(&self, id: i64) -> bool {
        let i = self.overlaps.partition_point(|(_, hi)| *hi < id);
        self.overlaps.get(i).is_some_and(|(lo, _)| *lo <= id) || self.candidates.contains(&id)
    }
}

/// Pass 2: how often each id of interest occurs in the partition (at most `limit` ids).
struct Counting {
    of: Arc<ToCount>,
    limit: usize,
    counts: HashMap<i64, u64>,
}

impl Counting {
    fn new(of: Arc<ToCount>, limit: usize) -> Self {
        Counting {
            of,
            limit,
            counts: HashMap::new(),
        }
    }
}

impl Scan for Counting {
    fn push(&mut self, ids: &Int64Array) -> bool {
        for id in ids.iter().flatten() {
            if self.of.contains(id) {
                *self.counts.entry(id).or_default() += 1;
            }
        }
        self.counts.len() <= self.limit
    }
}

/// One bit per id of a dense range: ids in the span are marked, and an id whose bit was
/// already set repeats. Serial keys are dense, so 100 M ids take 12.5 MB.
struct Bitmap {
    lo: i64,
    hi: i64,
    words: Vec<AtomicU64>,
}

impl Bitmap {
    /// `None` when the span is wider than `limit` ids.
    fn new(lo: i64, hi: i64, limit: u64) -> Option<Self> {
        let width = u64::try_from(i128::from(hi) - i128::from(lo) + 1).ok()?;
        if width > limit {
            return None;
        }
        let words = (0..width.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        Some(Bitmap { lo, hi, words })
    }

    /// Marks `id` (within the span); true if it was marked before.
    fn mark(&self, id: i64) -> bool {
        let offset = id.abs_diff(self.lo);
        let bit = 1u64 << (offset % 64);
        self.words[(offset / 64) as usize].fetch_or(bit, Ordering::Relaxed) & bit != 0
    }
}

/// A scan over a dense span: the ids whose bit another row had set (at most `limit`).
struct Marking {
    bitmap: Arc<Bitmap>,
    limit: usize,
    outside: Outside,
    repeats: Vec<i64>,
}

impl Marking {
    fn new(bitmap: Arc<Bitmap>, limit: usize, outside: Outside) -> Self {
        Marking {
            bitmap,
            limit,
            outside,
            repeats: Vec::new(),
        }
    }
}

impl Scan for Marking {
    fn push(&mut self, ids: &Int64Array) -> bool {
        let (lo, hi) = (self.bitmap.lo, self.bitmap.hi);
        for id in ids.iter().flatten() {
            if !(lo..=hi).contains(&id) {
                if self.outside == Outside::GiveUp {
                    return false;
                }
            } else if self.bitmap.mark(id) {
                self.repeats.push(id);
            }
        }
        self.repeats.len() <= self.limit
    }
}

/// Where any two of the ranges overlap, merged into sorted disjoint ranges.
fn overlaps(ranges: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut shared = Vec::new();
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
            if lo <= hi {
                shared.push((lo, hi));
            }
        }
    }
    shared.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(shared.len());
    for (lo, hi) in shared {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_ranges_merge() {
        assert_eq!(overlaps(&[(1, 10), (20, 30)]), vec![]);
        assert_eq!(overlaps(&[(1, 10), (5, 30), (8, 40)]), vec![(5, 30)]);
        assert_eq!(overlaps(&[(1, 10), (10, 20)]), vec![(10, 10)]);
        assert_eq!(
            overlaps(&[(1, 3), (2, 5), (50, 60), (55, 70)]),
            vec![(2, 3), (55, 60)]
        );
    }

    #[test]
    fn first_scan_keeps_every_repeat_within_a_partition() {
        let mut scan = FirstScan::new(Limits::default().remembered);
        assert!(scan.push(&Int64Array::from(vec![Some(3), None, Some(5), Some(3)])));
        assert!(scan.push(&Int64Array::from(vec![7, 6, 7, 1])));
        assert_eq!(scan.range, Some((1, 7)));
        assert_eq!(scan.candidates, vec![3, 6, 7, 1]);
    }
}
