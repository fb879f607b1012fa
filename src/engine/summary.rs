//! `user_events_summary` by one pass over the events, for sessions on this machine.
//!
//! The view (`queries/views/user_events_summary.sql`, over `user_events_checked.sql`)
//! is the definition. Its plan ranks the repeated ids, joins every event to
//! `users_clean`, evaluates the zone's calendar three times per row and hash-aggregates
//! on five keys: most of a report's time. Exported user ids are dense serials, so here a
//! user's signup week is an array index, the checks are a few comparisons, and each
//! user's groups are a short list that events, in time order or grouped by user, almost
//! always extend at its end. Only the rows whose id repeats are held back, ranked as the
//! view ranks them, and counted at the end.
//!
//! [`EventsSummary::rows`] returns `None`, and the view's plan runs, wherever this
//! method does not fit the snapshot: ids too sparse for an array, column types other
//! than the exported ones, a count beyond `u32`, or a memory pool that cannot hold the
//! groups (the plan can spill). `tests/it/summary.rs` proves the two agree.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::mem::size_of;
use std::sync::Arc;

use async_trait::async_trait;
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, RecordBatch, StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Int64Type, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, collect};
use futures::StreamExt;

use crate::engine::contain::contained;
use crate::engine::memo::Operator;
use crate::engine::time::LocalCalendar;

/// The tables and parameters `user_events_summary` is computed from.
#[derive(Debug)]
pub(crate) struct EventsSummary {
    pub events: Arc<dyn TableProvider>,
    /// `users_clean`: `id` and `cohort_week`.
    pub users: Arc<dyn TableProvider>,
    /// `user_events_duplicate_ids`.
    pub repeated: Arc<dyn TableProvider>,
    pub tz: Tz,
    /// `as_of`, in µs since the epoch.
    pub as_of: i64,
    /// The default engagement event types (`$event_types` of the session's summaries).
    pub engagement: Vec<String>,
}

/// The checks of `user_events_checked.sql`, in its order; `CLEAN` is its NULL.
const CLEAN: u8 = 0;
const DUPLICATE_ID: u8 = 1;
const NULL_REQUIRED: u8 = 2;
const ORPHAN_USER_ID: u8 = 3;
const AFTER_AS_OF: u8 = 4;
const BEFORE_SIGNUP_WEEK: u8 = 5;
const CHECK_NAMES: [Option<&str>; 6] = [
    None,
    Some("duplicate_id"),
    Some("null_required"),
    Some("orphan_user_id"),
    Some("after_as_of"),
    Some("before_signup_week"),
];

/// A local date no instant has: the event's timestamp is NULL (or beyond chrono).
const NO_DATE: i32 = i32::MIN;

/// Ids spanning more than this many slots per clean user (plus a constant) are too
/// sparse for an array indexed by id.
const SLOTS_PER_USER: usize = 4;
const SLOTS_SPARE: usize = 1 << 16;

#[async_trait]
impl Operator for EventsSummary {
    async fn rows(
        &self,
        state: &dyn Session,
        schema: &SchemaRef,
    ) -> Result<Option<Vec<RecordBatch>>> {
        if !output_fits(schema) {
            return Ok(None);
        }
        let Some(users) = self.users(state).await? else {
            return Ok(None);
        };
        let repeated = self.repeated(state).await?;
        let Some(plan) = self.scan(state).await? else {
            return Ok(None);
        };
        let users = Arc::new(users);
        let repeated = Arc::new(repeated);
        let pool = state.runtime_env().memory_pool.clone();
        let partitions = plan.properties().partitioning.partition_count();
        let mut tasks = Vec::with_capacity(partitions);
        for partition in 0..partitions {
            let stream = plan.execute(partition, state.task_ctx())?;
            let pass = Pass {
                users: users.clone(),
                repeated: repeated.clone(),
                tz: self.tz,
                as_of: self.as_of,
                engagement: self.engagement.clone(),
                pool: pool.clone(),
            };
            tasks.push(contained(pass.run(stream)));
        }
        let mut partials = Vec::with_capacity(partitions);
        for partial in futures::future::try_join_all(tasks).await? {
            let Some(partial) = partial else {
                return Ok(None);
            };
            partials.push(partial);
        }
        let classifier = Classifier {
            users: &users,
            calendar: LocalCalendar::new(self.tz),
            as_of: self.as_of,
            engagement: &self.engagement,
        };
        let Some(sets) = rank_repeated(partials, &classifier) else {
            return Ok(None);
        };
        write(
            sets,
            &users,
            schema,
            &classifier.calendar,
            state.config().batch_size(),
        )
    }
}

impl EventsSummary {
    /// Each clean user's signup week, by id; `None` when the ids are too sparse.
    async fn users(&self, state: &dyn Session) -> Result<Option<Users>> {
        let schema = self.users.schema();
        let (Ok(id), Ok(week)) = (schema.index_of("id"), schema.index_of("cohort_week")) else {
            return Ok(None);
        };
        let plan = self
            .users
            .scan(state, Some(&vec![id, week]), &[], None)
            .await?;
        let batches = collect(plan, state.task_ctx()).await?;
        let mut rows = Vec::new();
        for batch in &batches {
            let (Some(ids), Some(weeks)) = (
                batch.column(0).as_primitive_opt::<Int64Type>(),
                batch.column(1).as_primitive_opt::<Date32Type>(),
            ) else {
                return Ok(None);
            };
            // A NULL id joins no event.
            rows.extend(
                ids.iter()
                    .zip(weeks.iter())
                    .filter_map(|(id, week)| Some((id?, week.unwrap_or(NO_WEEK)))),
            );
        }
        let (Some(first), Some(last)) = (
            rows.iter().map(|r| r.0).min(),
            rows.iter().map(|r| r.0).max(),
        ) else {
            return Ok(Some(Users {
                first: 0,
                weeks: Vec::new(),
            }));
        };
        let span = usize::try_from(last.abs_diff(first)).unwrap_or(usize::MAX);
        if span >= rows.len().saturating_mul(SLOTS_PER_USER) + SLOTS_SPARE
            || u32::try_from(span).is_err()
        {
            return Ok(None);
        }
        let mut weeks = vec![ABSENT; span + 1];
        for (id, week) in rows {
            let slot = &mut weeks[usize::try_from(id.abs_diff(first)).unwrap_or(usize::MAX)];
            // Two clean rows of one id would join each event twice: leave it to the plan.
            if *slot != ABSENT {
                return Ok(None);
            }
            *slot = week;
        }
        Ok(Some(Users { first, weeks }))
    }

    async fn repeated(&self, state: &dyn Session) -> Result<HashSet<i64>> {
        let plan = self.repeated.scan(state, None, &[], None).await?;
        let mut ids = HashSet::new();
        for batch in collect(plan, state.task_ctx()).await? {
            if let Some(column) = batch.column(0).as_primitive_opt::<Int64Type>() {
                ids.extend(column.iter().flatten());
            }
        }
        Ok(ids)
    }

    /// The events' id, user_id, event_type and event_timestamp, when of the types read.
    async fn scan(&self, state: &dyn Session) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let schema = self.events.schema();
        let mut projection = Vec::with_capacity(4);
        for name in ["id", "user_id", "event_type", "event_timestamp"] {
            let Ok(index) = schema.index_of(name) else {
                return Ok(None);
            };
            projection.push(index);
        }
        let plan = self
            .events
            .scan(state, Some(&projection), &[], None)
            .await?;
        let scanned = plan.schema();
        let types: Vec<&DataType> = scanned.fields().iter().map(|f| f.data_type()).collect();
        let fits = matches!(
            types.as_slice(),
            [
                DataType::Int64,
                DataType::Int64,
                DataType::Utf8 | DataType::Utf8View,
                DataType::Timestamp(TimeUnit::Microsecond, _),
            ]
        );
        Ok(fits.then_some(plan))
    }
}

/// Whether the view's schema is the one [`Groups::into_batches`] writes.
fn output_fits(schema: &SchemaRef) -> bool {
    let expected = [
        ("user_id", DataType::Int64),
        ("event_date", DataType::Date32),
        ("event_week", DataType::Date32),
        ("event_month", DataType::Date32),
        ("dq_check", DataType::Utf8),
        ("events", DataType::Int64),
        ("engagement_events", DataType::Int64),
        ("logins", DataType::Int64),
    ];
    schema.fields().len() == expected.len()
        && schema
            .fields()
            .iter()
            .zip(&expected)
            .all(|(field, (name, data_type))| {
                field.name() == name
                    && (field.data_type() == data_type
                        || (*name == "dq_check" && field.data_type() == &DataType::Utf8View))
            })
}

/// A slot of [`Users::weeks`] with no clean user.
const ABSENT: i32 = i32::MAX;
/// A clean user whose cohort week is NULL: no event of theirs is before it.
const NO_WEEK: i32 = i32::MIN;

/// The clean users' cohort weeks, indexed by id − `first`.
struct Users {
    first: i64,
    weeks: Vec<i32>,
}

impl Users {
    /// The slot and cohort week of a clean user.
    fn find(&self, id: i64) -> Option<(usize, i32)> {
        let slot = usize::try_from(id.checked_sub(self.first)?).ok()?;
        let week = *self.weeks.get(slot)?;
        (week != ABSENT).then_some((slot, week))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    events: u32,
    engagement: u32,
    logins: u32,
}

impl Counts {
    /// Adds `other`; false on overflow.
    #[must_use]
    fn add(&mut self, other: Counts) -> bool {
        match (
            self.events.checked_add(other.events),
            self.engagement.checked_add(other.engagement),
            self.logins.checked_add(other.logins),
        ) {
            (Some(events), Some(engagement), Some(logins)) => {
                *self = Counts {
                    events,
                    engagement,
                    logins,
                };
                true
            }
            _ => false,
        }
    }
}

/// One row of the summary for a clean user, without the user.
#[derive(Debug, Clone, Copy)]
struct Group {
    date: i32,
    check: u8,
    counts: Counts,
}

/// Where an event is counted: a clean user's slot, or by its user_id (NULL or no clean
/// user) in [`Partial::other`].
enum Owner {
    User(usize),
    Other(Option<i64>),
}

/// One event's columns, as the checks read them.
struct Event<'a> {
    id_null: bool,
    user: Option<i64>,
    kind: Option<&'a str>,
    at: Option<i64>,
}

/// The checks and counts of `user_events_checked.sql` and `user_events_summary.sql`.
struct Classifier<'a> {
    users: &'a Users,
    calendar: LocalCalendar,
    as_of: i64,
    engagement: &'a [String],
}

impl Classifier<'_> {
    /// Where `event` is counted, its local date, its check, and what it adds; `copy` is
    /// its rank among the rows of its id (1 unless the id repeats).
    fn classify(&self, event: &Event, copy: usize) -> (Owner, i32, u8, Counts) {
        let date = event
            .at
            .and_then(|at| self.calendar.date(at))
            .unwrap_or(NO_DATE);
        let user = event.user.and_then(|id| self.users.find(id));
        let check = if copy > 1 {
            DUPLICATE_ID
        } else if event.id_null
            || event.user.is_none()
            || event.kind.is_none()
            || event.at.is_none()
        {
            NULL_REQUIRED
        } else {
            match user {
                None => ORPHAN_USER_ID,
                Some(_) if event.at.is_some_and(|at| at > self.as_of) => AFTER_AS_OF,
                Some((_, cohort))
                    if cohort != NO_WEEK
                        && date != NO_DATE
                        && LocalCalendar::week(date).is_some_and(|week| week < cohort) =>
                {
                    BEFORE_SIGNUP_WEEK
                }
                Some(_) => CLEAN,
            }
        };
        let counts = Counts {
            events: 1,
            engagement: u32::from(
                event
                    .kind
                    .is_some_and(|kind| self.engagement.iter().any(|e| e == kind)),
            ),
            logins: u32::from(event.kind == Some("login")),
        };
        let owner = match user {
            Some((slot, _)) => Owner::User(slot),
            None => Owner::Other(event.user),
        };
        (owner, date, check, counts)
    }
}

/// Sorts NULLs last: `(is_none, value)`.
type RankKey<'a> = (
    i64,
    (bool, Option<i64>),
    (bool, Option<i64>),
    (bool, Option<&'a str>),
);

/// An event whose id repeats, kept until every copy has been seen and ranked.
struct Repeated {
    id: i64,
    user: Option<i64>,
    kind: Option<String>,
    at: Option<i64>,
}

impl Repeated {
    /// The view's `ORDER BY event_timestamp, user_id, event_type` (ascending, NULLs
    /// last) within an id; `metadata`, its last key, changes no count.
    fn rank_key(&self) -> RankKey<'_> {
        (
            self.id,
            (self.at.is_none(), self.at),
            (self.user.is_none(), self.user),
            (self.kind.is_none(), self.kind.as_deref()),
        )
    }
}

/// A group of a clean user, by slot: `(slot, group)`.
type Slotted = (u32, Group);

/// The summary's rows as they are added up: for each clean user (by slot) the group its
/// last event went to, the groups retired from there, and a map for the events of no
/// clean user. The last groups sit in one dense array and retired ones are appended to
/// one log: an event touches one cache line of per-user state (events in time order keep
/// to one date; grouped by user, to one user), and the log is sorted once at the end.
struct Groups {
    last: Vec<Group>,
    retired: Vec<Slotted>,
    /// The log's length at which it is sorted and merged, so that events in no useful
    /// order cannot grow it to one entry per event.
    compact_at: usize,
    other: HashMap<(Option<i64>, i32, u8), Counts>,
}

/// A [`Groups::last`] with no group yet: no group counts zero events.
const NO_GROUP: Group = Group {
    date: NO_DATE,
    check: CLEAN,
    counts: Counts {
        events: 0,
        engagement: 0,
        logins: 0,
    },
};

/// A log of groups is sorted and merged when it reaches this many entries per clean user
/// (or [`RETIRED_SPARE`]), and then twice what remained.
const RETIRED_PER_USER: usize = 8;
const RETIRED_SPARE: usize = 1 << 16;

impl Groups {
    fn new(users: usize) -> Self {
        Groups {
            last: vec![NO_GROUP; users],
            retired: Vec::new(),
            compact_at: users.saturating_mul(RETIRED_PER_USER).max(RETIRED_SPARE),
            other: HashMap::new(),
        }
    }

    /// Counts one event; `None` on overflow.
    fn add(&mut self, owner: Owner, date: i32, check: u8, counts: Counts) -> Option<()> {
        let group = Group {
            date,
            check,
            counts,
        };
        match owner {
            Owner::User(slot) => {
                let last = &mut self.last[slot];
                if last.counts.events == 0 {
                    *last = group;
                } else if last.date == date && last.check == check {
                    last.counts.add(counts).then_some(())?;
                } else {
                    // `Users` holds at most `u32::MAX` slots.
                    let retired = std::mem::replace(last, group);
                    self.retired.push((slot as u32, retired));
                    if self.retired.len() >= self.compact_at {
                        compact(&mut self.retired)?;
                        self.compact_at = self.compact_at.max(self.retired.len() * 2);
                    }
                }
            }
            Owner::Other(user) => match self.other.entry((user, date, check)) {
                Entry::Occupied(mut entry) => entry.get_mut().add(counts).then_some(())?,
                Entry::Vacant(entry) => {
                    entry.insert(counts);
                }
            },
        }
        Some(())
    }

    /// Bytes held, for the memory pool.
    fn bytes(&self) -> usize {
        self.last.capacity() * size_of::<Group>()
            + self.retired.capacity() * size_of::<Slotted>()
            + self.other.capacity() * (size_of::<(Option<i64>, i32, u8)>() + size_of::<Counts>())
    }

    /// Every clean user's groups in (slot, date, check) order, one per key, and the
    /// others'; `None` on overflow.
    fn finish(mut self) -> Option<Finished> {
        for (slot, last) in self.last.iter().enumerate() {
            if last.counts.events > 0 {
                self.retired.push((slot as u32, *last));
            }
        }
        compact(&mut self.retired)?;
        Some(Finished {
            slotted: self.retired,
            other: self.other,
        })
    }
}

/// What one set of events added up to, ready to merge ([`Groups::finish`]).
struct Finished {
    slotted: Vec<Slotted>,
    other: HashMap<(Option<i64>, i32, u8), Counts>,
}

/// Sorts `groups` by (slot, date, check) and adds up the groups of one key; `None` on
/// overflow.
fn compact(groups: &mut Vec<Slotted>) -> Option<()> {
    groups.sort_unstable_by_key(|&(slot, g)| (slot, g.date, g.check));
    let mut kept = 0;
    for i in 0..groups.len() {
        let (slot, group) = groups[i];
        if kept > 0 {
            let (last_slot, last) = &mut groups[kept - 1];
            if *last_slot == slot && last.date == group.date && last.check == group.check {
                last.counts.add(group.counts).then_some(())?;
                continue;
            }
        }
        groups[kept] = (slot, group);
        kept += 1;
    }
    groups.truncate(kept);
    Some(())
}

/// Merges sets of groups, each in (slot, date, check) order, into the summary's rows:
/// clean users by id, then the rest, in batches of `batch_size` rows of `schema` (checked
/// by [`output_fits`]); `None` on overflow.
fn write(
    sets: Vec<Finished>,
    users: &Users,
    schema: &SchemaRef,
    calendar: &LocalCalendar,
    batch_size: usize,
) -> Result<Option<Vec<RecordBatch>>> {
    let mut out = Batches::new(schema, calendar, batch_size);
    let mut other: HashMap<(Option<i64>, i32, u8), Counts> = HashMap::new();
    let mut runs = Vec::with_capacity(sets.len());
    for set in sets {
        runs.push(set.slotted.into_iter().peekable());
        for (key, counts) in set.other {
            match other.entry(key) {
                Entry::Occupied(mut entry) => {
                    if !entry.get_mut().add(counts) {
                        return Ok(None);
                    }
                }
                Entry::Vacant(entry) => {
                    entry.insert(counts);
                }
            }
        }
    }
    let key = |&(slot, g): &Slotted| (slot, g.date, g.check);
    let mut pending: Option<Slotted> = None;
    loop {
        let next = runs
            .iter_mut()
            .filter_map(|run| Some((run.peek().map(key)?, run)))
            .min_by_key(|(k, _)| *k)
            .and_then(|(_, run)| run.next());
        match (&mut pending, next) {
            (Some(merged), Some(next)) if key(merged) == key(&next) => {
                if !merged.1.counts.add(next.1.counts) {
                    return Ok(None);
                }
            }
            (_, next) => {
                if let Some((slot, group)) = pending.take() {
                    out.push(Some(users.first + i64::from(slot)), group)?;
                }
                match next {
                    Some(next) => pending = Some(next),
                    None => break,
                }
            }
        }
    }
    let mut other: Vec<_> = other.into_iter().collect();
    other.sort_unstable_by_key(|&((user, date, check), _)| (user.is_none(), user, date, check));
    for ((user, date, check), counts) in other {
        let group = Group {
            date,
            check,
            counts,
        };
        out.push(user, group)?;
    }
    out.finish().map(Some)
}

/// Summary rows, written out as batches of a fixed size.
struct Batches<'a> {
    schema: &'a SchemaRef,
    calendar: &'a LocalCalendar,
    size: usize,
    users: Vec<Option<i64>>,
    groups: Vec<Group>,
    done: Vec<RecordBatch>,
}

impl<'a> Batches<'a> {
    fn new(schema: &'a SchemaRef, calendar: &'a LocalCalendar, size: usize) -> Self {
        let size = size.max(1);
        Batches {
            schema,
            calendar,
            size,
            users: Vec::with_capacity(size),
            groups: Vec::with_capacity(size),
            done: Vec::new(),
        }
    }

    fn push(&mut self, user: Option<i64>, group: Group) -> Result<()> {
        self.users.push(user);
        self.groups.push(group);
        if self.users.len() == self.size {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let groups = &self.groups;
        let date = |g: &Group| (g.date != NO_DATE).then_some(g.date);
        let check = |g: &Group| CHECK_NAMES[usize::from(g.check)];
        let count = |f: fn(&Counts) -> u32| {
            Arc::new(Int64Array::from_iter_values(
                groups.iter().map(|g| i64::from(f(&g.counts))),
            )) as ArrayRef
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(std::mem::take(&mut self.users))),
            Arc::new(Date32Array::from_iter(groups.iter().map(date))),
            Arc::new(Date32Array::from_iter(
                groups.iter().map(|g| date(g).and_then(LocalCalendar::week)),
            )),
            Arc::new(Date32Array::from_iter(
                groups
                    .iter()
                    .map(|g| date(g).and_then(|d| self.calendar.month(d))),
            )),
            match self.schema.field(4).data_type() {
                DataType::Utf8View => {
                    Arc::new(StringViewArray::from_iter(groups.iter().map(check)))
                }
                _ => Arc::new(StringArray::from_iter(groups.iter().map(check))),
            },
            count(|c| c.events),
            count(|c| c.engagement),
            count(|c| c.logins),
        ];
        self.done
            .push(RecordBatch::try_new(self.schema.clone(), columns)?);
        self.groups.clear();
        self.users.reserve(self.size);
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<RecordBatch>> {
        if !self.users.is_empty() {
            self.flush()?;
        }
        Ok(self.done)
    }
}

/// One partition's pass over the events.
struct Pass {
    users: Arc<Users>,
    repeated: Arc<HashSet<i64>>,
    tz: Tz,
    as_of: i64,
    engagement: Vec<String>,
    pool: Arc<dyn MemoryPool>,
}

/// What a [`Pass`] found: its groups and the rows whose id repeats, still to be ranked.
struct Partial {
    groups: Finished,
    repeated: Vec<Repeated>,
}

impl Pass {
    /// `None` when a count overflows or the memory pool cannot hold the groups.
    async fn run(self, mut stream: SendableRecordBatchStream) -> Result<Option<Partial>> {
        let classifier = Classifier {
            users: &self.users,
            calendar: LocalCalendar::new(self.tz),
            as_of: self.as_of,
            engagement: &self.engagement,
        };
        let mut groups = Groups::new(self.users.weeks.len());
        let mut repeated = Vec::new();
        let mut held_back = 0usize;
        let reservation = MemoryConsumer::new("user_events_summary pass").register(&self.pool);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let (Some(ids), Some(users), Some(at)) = (
                batch.column(0).as_primitive_opt::<Int64Type>(),
                batch.column(1).as_primitive_opt::<Int64Type>(),
                batch
                    .column(3)
                    .as_primitive_opt::<TimestampMicrosecondType>(),
            ) else {
                return Ok(None);
            };
            let kinds = Kinds::of(batch.column(2).as_ref());
            let Some(kinds) = kinds else {
                return Ok(None);
            };
            for row in 0..batch.num_rows() {
                let event = Event {
                    id_null: ids.is_null(row),
                    user: users.is_valid(row).then(|| users.value(row)),
                    kind: kinds.get(row),
                    at: at.is_valid(row).then(|| at.value(row)),
                };
                if !event.id_null && self.repeated.contains(&ids.value(row)) {
                    held_back += size_of::<Repeated>() + event.kind.map_or(0, str::len);
                    repeated.push(Repeated {
                        id: ids.value(row),
                        user: event.user,
                        kind: event.kind.map(str::to_string),
                        at: event.at,
                    });
                    continue;
                }
                let (owner, date, check, counts) = classifier.classify(&event, 1);
                if groups.add(owner, date, check, counts).is_none() {
                    return Ok(None);
                }
            }
            if reservation.try_resize(groups.bytes() + held_back).is_err() {
                return Ok(None);
            }
        }
        Ok(groups.finish().map(|groups| Partial { groups, repeated }))
    }
}

/// A column of event types.
enum Kinds<'a> {
    Utf8(&'a StringArray),
    View(&'a StringViewArray),
}

impl<'a> Kinds<'a> {
    fn of(array: &'a dyn Array) -> Option<Self> {
        match array.data_type() {
            DataType::Utf8 => Some(Kinds::Utf8(array.as_string::<i32>())),
            DataType::Utf8View => Some(Kinds::View(array.as_string_view())),
            _ => None,
        }
    }

    fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Kinds::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            Kinds::View(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

/// The partitions' groups and those of the rows whose id repeats, ranked as the view
/// ranks them; `None` on overflow.
fn rank_repeated(partials: Vec<Partial>, classifier: &Classifier) -> Option<Vec<Finished>> {
    let mut sets = Vec::with_capacity(partials.len() + 1);
    let mut repeated = Vec::new();
    for partial in partials {
        sets.push(partial.groups);
        repeated.extend(partial.repeated);
    }
    repeated.sort_unstable_by(|a, b| a.rank_key().cmp(&b.rank_key()));
    let mut groups = Groups::new(classifier.users.weeks.len());
    let mut copy = 0;
    let mut last = None;
    for row in &repeated {
        copy = if last == Some(row.id) { copy + 1 } else { 1 };
        last = Some(row.id);
        let event = Event {
            id_null: false,
            user: row.user,
            kind: row.kind.as_deref(),
            at: row.at,
        };
        let (owner, date, check, counts) = classifier.classify(&event, copy);
        groups.add(owner, date, check, counts)?;
    }
    sets.push(groups.finish()?);
    Some(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(kind: u32) -> Counts {
        Counts {
            events: 1,
            engagement: kind,
            logins: 0,
        }
    }

    /// Events of two users alternating between dates, with the log compacted every few
    /// entries: each (user, date, check) comes out once, with every event counted.
    #[test]
    fn groups_add_up_whatever_the_order_and_compactions() {
        let mut groups = Groups::new(2);
        groups.compact_at = 3;
        let events = [
            (0, 10),
            (1, 10),
            (0, 11),
            (0, 10),
            (1, 12),
            (0, 11),
            (1, 10),
            (0, 10),
        ];
        for (i, &(slot, date)) in events.iter().enumerate() {
            let added = groups.add(Owner::User(slot), date, CLEAN, one(u32::from(i % 2 == 0)));
            assert_eq!(added, Some(()));
        }
        assert_eq!(
            groups.add(Owner::Other(None), NO_DATE, NULL_REQUIRED, one(0)),
            Some(())
        );
        let finished = groups.finish().expect("no overflow");
        let got: Vec<(u32, i32, u32, u32)> = finished
            .slotted
            .iter()
            .map(|(slot, g)| (*slot, g.date, g.counts.events, g.counts.engagement))
            .collect();
        assert_eq!(
            got,
            [(0, 10, 3, 1), (0, 11, 2, 1), (1, 10, 2, 1), (1, 12, 1, 1)]
        );
        assert_eq!(finished.other.len(), 1);
    }

    #[test]
    fn an_overflowing_count_gives_up() {
        let mut groups = Groups::new(1);
        let full = Counts {
            events: u32::MAX,
            engagement: 0,
            logins: 0,
        };
        assert_eq!(groups.add(Owner::User(0), 1, CLEAN, full), Some(()));
        assert_eq!(groups.add(Owner::User(0), 1, CLEAN, one(0)), None);
    }
}
