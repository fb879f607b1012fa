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
use datafusion::error::{DataFusionError, Result};
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

/// Groups a user's list is searched back for before a new one is started.
const SEARCHED: usize = 4;
/// A user's list is sorted and merged when its length reaches a power of two from here.
const COMPACTED_FROM: usize = 64;

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
        let Some(groups) = merge(partials, &classifier) else {
            return Ok(None);
        };
        Ok(Some(groups.into_batches(
            &users,
            schema,
            &classifier.calendar,
            state.config().batch_size(),
        )?))
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
        if span >= rows.len().saturating_mul(SLOTS_PER_USER) + SLOTS_SPARE {
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

/// The summary's rows as they are added up: for each clean user (by slot) a short list
/// of groups, and a map for the events of no clean user.
struct Groups {
    slots: Vec<Vec<Group>>,
    other: HashMap<(Option<i64>, i32, u8), Counts>,
}

impl Groups {
    fn new(users: usize) -> Self {
        Groups {
            slots: (0..users).map(|_| Vec::new()).collect(),
            other: HashMap::new(),
        }
    }

    /// Counts one event: the groups it started (0 or 1), or `None` on overflow.
    fn add(&mut self, owner: Owner, date: i32, check: u8, counts: Counts) -> Option<usize> {
        match owner {
            Owner::User(slot) => {
                let groups = &mut self.slots[slot];
                if let Some(group) = groups
                    .iter_mut()
                    .rev()
                    .take(SEARCHED)
                    .find(|g| g.date == date && g.check == check)
                {
                    return group.counts.add(counts).then_some(0);
                }
                groups.push(Group {
                    date,
                    check,
                    counts,
                });
                if groups.len() >= COMPACTED_FROM && groups.len().is_power_of_two() {
                    compact(groups)?;
                }
                Some(1)
            }
            Owner::Other(user) => match self.other.entry((user, date, check)) {
                Entry::Occupied(mut entry) => entry.get_mut().add(counts).then_some(0),
                Entry::Vacant(entry) => {
                    entry.insert(counts);
                    Some(1)
                }
            },
        }
    }

    /// Adds `other`'s groups to these; `None` on overflow.
    fn absorb(&mut self, other: Groups) -> Option<()> {
        for (mine, theirs) in self.slots.iter_mut().zip(other.slots) {
            if mine.is_empty() {
                *mine = theirs;
            } else if !theirs.is_empty() {
                mine.extend(theirs);
                compact(mine)?;
            }
        }
        for (key, counts) in other.other {
            match self.other.entry(key) {
                Entry::Occupied(mut entry) => entry.get_mut().add(counts).then_some(())?,
                Entry::Vacant(entry) => {
                    entry.insert(counts);
                }
            }
        }
        Some(())
    }

    /// The rows, clean users by id and then the rest, in batches of `batch_size` rows of
    /// `schema` (checked by [`output_fits`]); each user's groups are freed as they are
    /// written.
    fn into_batches(
        self,
        users: &Users,
        schema: &SchemaRef,
        calendar: &LocalCalendar,
        batch_size: usize,
    ) -> Result<Vec<RecordBatch>> {
        let Groups { mut slots, other } = self;
        let mut other: Vec<_> = other.into_iter().collect();
        other.sort_unstable_by_key(|&((user, date, check), _)| (user.is_none(), user, date, check));
        let mut out = Batches::new(schema, calendar, batch_size);
        for (slot, groups) in slots.iter_mut().enumerate() {
            let mut groups = std::mem::take(groups);
            // Every slot was compacted when partitions were merged, except a lone one.
            compact(&mut groups).ok_or_else(|| {
                DataFusionError::Execution("user_events_summary: a count does not fit".into())
            })?;
            let user = users.first + slot as i64;
            for group in groups {
                out.push(Some(user), group)?;
            }
        }
        for ((user, date, check), counts) in other {
            out.push(
                user,
                Group {
                    date,
                    check,
                    counts,
                },
            )?;
        }
        out.finish()
    }
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

/// Sorts `groups` by (date, check) and adds up the groups of one key; `None` on overflow.
fn compact(groups: &mut Vec<Group>) -> Option<()> {
    groups.sort_unstable_by_key(|g| (g.date, g.check));
    let mut merged: Vec<Group> = Vec::with_capacity(groups.len());
    for group in groups.drain(..) {
        match merged.last_mut() {
            Some(last) if last.date == group.date && last.check == group.check => {
                last.counts.add(group.counts).then_some(())?;
            }
            _ => merged.push(group),
        }
    }
    *groups = merged;
    Some(())
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
    groups: Groups,
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
        let mut started = 0usize;
        let mut held_back = 0usize;
        let reservation = MemoryConsumer::new("user_events_summary pass").register(&self.pool);
        let fixed = self.users.weeks.len() * size_of::<Vec<Group>>();
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
                let Some(added) = groups.add(owner, date, check, counts) else {
                    return Ok(None);
                };
                started += added;
            }
            // Every group started is counted, including those a compaction merged: the
            // reservation bounds the high-water mark.
            let bytes = fixed + started * (size_of::<Group>() + 8) + held_back;
            if reservation.try_resize(bytes).is_err() {
                return Ok(None);
            }
        }
        Ok(Some(Partial { groups, repeated }))
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

/// Adds the partitions up, then ranks and counts the rows whose id repeats; `None` on
/// overflow.
fn merge(partials: Vec<Partial>, classifier: &Classifier) -> Option<Groups> {
    let mut partials = partials.into_iter();
    let first = partials.next()?;
    let mut groups = first.groups;
    let mut repeated = first.repeated;
    for partial in partials {
        groups.absorb(partial.groups)?;
        repeated.extend(partial.repeated);
    }
    repeated.sort_unstable_by(|a, b| a.rank_key().cmp(&b.rank_key()));
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
    Some(groups)
}
