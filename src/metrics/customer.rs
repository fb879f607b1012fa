//! The Customer Data API's record: one user's identity, onboarding, activity and
//! transactions, computed from a snapshot by one SQL definition (`queries/customer.sql`).
//!
//! The same query serves one customer (`$user_id` bound to the id) and every customer
//! (`$user_id` NULL), so `snapmetrics customer`, `snapmetrics customers` and the HTTP API
//! can never disagree on a definition. It reads the `_clean` views, so data-quality
//! exclusions apply exactly as they do to the metrics.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Int32Type, Int64Type, Schema, SchemaRef,
    TimestampMicrosecondType,
};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::prelude::DataFrame;
use serde::Serialize;

use crate::engine::session::{Filters, Session};
use crate::engine::values::{self, typed};
use crate::error::{Error, Result};

/// The record's definition; see its header comment.
pub const SQL: &str = include_str!("../../queries/customer.sql");

/// Resolves a tokenized id to `users.id` through the clean mapping, so a token that is
/// excluded there (unmapped, mapped twice) finds nobody, as it does for the metrics.
const TOKEN_SQL: &str = "SELECT internal_user_id FROM l0_user_tokenization_clean \
                         WHERE tokenized_user_id = $token";

/// Line tags in [`SQL`]: which lines exist depends on what the session may see.
const TAG_PII: &str = "-- [pii]";
const TAG_PII_USERS: &str = "-- [pii_users]";
const TAG_NO_PII_USERS: &str = "-- [no_pii_users]";

/// How a customer is named: by `users.id`, or by the analytics layer's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerKey {
    Id(i64),
    Token(String),
}

impl std::fmt::Display for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CustomerKey::Id(id) => write!(f, "id {id}"),
            CustomerKey::Token(token) => write!(f, "token '{token}'"),
        }
    }
}

/// One customer's record. Serialises to the API's JSON: PII fields appear only when the
/// record was built from a session that includes PII and the caller kept them.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Customer {
    /// The snapshot the record was computed from, and its `as_of`, so any number in it
    /// can be reproduced.
    pub snapshot: String,
    pub as_of: DateTime<Utc>,
    pub id: i64,
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub pii: Option<Pii>,
    pub created_at: DateTime<Utc>,
    pub cohort_week: NaiveDate,
    pub is_active: bool,
    /// Null when the user never started onboarding.
    pub onboarding: Option<Onboarding>,
    pub activity: Activity,
    pub transactions: Transactions,
}

/// PII fields: `users.email` and the user's `l0_pii_users` row.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Pii {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Onboarding {
    pub started_at: DateTime<Utc>,
    pub last_step_completed: i32,
    pub total_steps: i32,
    pub completed_at: Option<DateTime<Utc>>,
    /// The answers as JSON; text that is not valid JSON is kept as a JSON string.
    #[schema(value_type = Option<Object>)]
    pub responses: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Activity {
    pub logins_total: i64,
    pub logins_last_30_days: i64,
    pub last_login_at: Option<DateTime<Utc>>,
    pub dashboard_accesses: i64,
    pub active_weeks: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Transactions {
    pub count: i64,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    pub banks: Vec<String>,
    /// Money as a decimal string ("1234.50"): exact, unlike a JSON number read as a float.
    pub total_in: String,
    pub total_out: String,
    pub statement_uploads: i64,
}

impl Customer {
    /// The record without its PII fields.
    pub fn without_pii(mut self) -> Self {
        self.pii = None;
        self
    }
}

/// [`SQL`] with the PII lines this session can run: none without `include_pii`; the
/// `l0_pii_users` join when the snapshot has that table, NULL stand-ins when not.
pub fn sql(session: &Session) -> String {
    let pii = session.options().include_pii;
    let pii_users = pii && session.snapshot().table("l0_pii_users").is_some();
    SQL.lines()
        .filter(|line| {
            let line = line.trim_end();
            if line.ends_with(TAG_PII) {
                pii
            } else if line.ends_with(TAG_PII_USERS) {
                pii_users
            } else if line.ends_with(TAG_NO_PII_USERS) {
                pii && !pii_users
            } else {
                true
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Plans the flat record (one row per user, nested groups as prefixed columns) for one
/// user, or for every user when `user_id` is `None`. The id is bound as a value.
pub async fn plan(session: &Session, user_id: Option<i64>) -> Result<DataFrame> {
    let mut params = session.params(&Filters::default());
    params.push(("user_id", ScalarValue::Int64(user_id)));
    session.query_with("customer", &sql(session), params).await
}

/// Every customer's flat record, sorted by id: what `snapmetrics customers` writes.
pub async fn all(session: &Session) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let df = plan(session, None).await?;
    let schema = df.schema().inner().clone();
    let batches = session.collect(df, "customers").await?;
    Ok((schema, batches))
}

/// One customer's record; [`Error::CustomerNotFound`] when the key names nobody (or a
/// user the data-quality checks exclude).
pub async fn lookup(session: &Session, key: &CustomerKey) -> Result<Customer> {
    let row = lookup_flat(session, key).await?;
    record(session, &row, 0)
}

/// One customer's flat record: a batch of exactly one row, columns as `customers` writes.
pub async fn lookup_flat(session: &Session, key: &CustomerKey) -> Result<RecordBatch> {
    let not_found = || Error::CustomerNotFound {
        snapshot: session.snapshot().id.clone(),
        key: key.to_string(),
    };
    let id = match key {
        CustomerKey::Id(id) => *id,
        CustomerKey::Token(token) => resolve_token(session, token).await?.ok_or_else(not_found)?,
    };
    let df = plan(session, Some(id)).await?;
    let batches = session.collect(df, "customer").await?;
    batches
        .into_iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.slice(0, 1))
        .ok_or_else(not_found)
}

/// Row `row` of a flat record batch from `session`, as a [`Customer`].
pub fn record(session: &Session, batch: &RecordBatch, row: usize) -> Result<Customer> {
    if row >= batch.num_rows() {
        return Err(internal(&format!(
            "row {row} of a batch of {}",
            batch.num_rows()
        )));
    }
    Record::new(session, batch).customer(row)
}

/// The user a tokenized id maps to, through `l0_user_tokenization_clean`.
pub async fn resolve_token(session: &Session, token: &str) -> Result<Option<i64>> {
    let df = session
        .query_with(
            "resolving a token",
            TOKEN_SQL,
            vec![("token", ScalarValue::Utf8(Some(token.to_string())))],
        )
        .await?;
    let batches = session.collect(df, "resolving a token").await?;
    for batch in &batches {
        if batch.num_rows() > 0 {
            let ids = typed(batch, "resolving a token", "internal_user_id", |a| {
                a.as_primitive_opt::<Int64Type>()
            })?;
            return Ok(ids.is_valid(0).then(|| ids.value(0)));
        }
    }
    Ok(None)
}

/// Every customer's record computed once and kept in memory, for callers that look up
/// many customers of one snapshot (the HTTP API): a snapshot never changes, so the
/// records cannot go stale, and each lookup is a hash probe instead of a pass over the
/// event and transaction tables that the data-quality checks need.
pub struct CustomerIndex {
    snapshot: String,
    as_of: DateTime<Utc>,
    batches: Vec<RecordBatch>,
    rows: HashMap<i64, (usize, usize)>,
    has_pii: bool,
}

impl CustomerIndex {
    /// Runs the record query for every user of `session`.
    pub async fn build(session: &Session) -> Result<Self> {
        let (_, batches) = all(session).await?;
        let mut rows = HashMap::new();
        for (b, batch) in batches.iter().enumerate() {
            let ids = typed(batch, QUERY, "id", |a| a.as_primitive_opt::<Int64Type>())?;
            for row in 0..batch.num_rows() {
                rows.insert(ids.value(row), (b, row));
            }
        }
        Ok(CustomerIndex {
            snapshot: session.snapshot().id.clone(),
            as_of: session.as_of().at,
            batches,
            rows,
            has_pii: session.options().include_pii,
        })
    }

    /// The customer with `id`, with or without PII; `Ok(None)` when there is none.
    /// PII is only ever present if the index was built from a session with PII.
    pub fn get(&self, id: i64, include_pii: bool) -> Result<Option<Customer>> {
        let Some(&(b, row)) = self.rows.get(&id) else {
            return Ok(None);
        };
        let record = Record {
            snapshot: &self.snapshot,
            as_of: self.as_of,
            batch: &self.batches[b],
            pii: self.has_pii,
        };
        let customer = record.customer(row)?;
        Ok(Some(if include_pii {
            customer
        } else {
            customer.without_pii()
        }))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn snapshot(&self) -> &str {
        &self.snapshot
    }
}

/// The flat record as CSV can hold it: `transactions_banks` (a list) becomes the JSON
/// array text `["A","B"]`, which keeps names with commas unambiguous.
pub fn for_csv(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::List(_) => Field::new(f.name(), DataType::Utf8, true),
            _ => f.as_ref().clone(),
        })
        .collect();
    let target = Arc::new(Schema::new(fields));
    let converted = batches
        .iter()
        .map(|batch| {
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .map(|column| match column.data_type() {
                    DataType::List(_) => list_as_json(column),
                    _ => Ok(column.clone()),
                })
                .collect::<Result<_>>()?;
            RecordBatch::try_new(target.clone(), columns)
                .map_err(|e| Error::query("customers as CSV", DataFusionError::from(e)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((target, converted))
}

fn list_as_json(column: &ArrayRef) -> Result<ArrayRef> {
    let lists = column.as_list::<i32>();
    let mut out = StringBuilder::new();
    for row in 0..lists.len() {
        if lists.is_null(row) {
            out.append_null();
            continue;
        }
        let values = lists.value(row);
        let strings = values
            .as_string_opt::<i32>()
            .ok_or_else(|| internal("transactions_banks is not a list of strings"))?;
        let items: Vec<Option<&str>> = strings.iter().collect();
        out.append_value(serde_json::to_string(&items).unwrap_or_default());
    }
    Ok(Arc::new(out.finish()))
}

/// A batch of flat records, read back into [`Customer`]s.
struct Record<'a> {
    snapshot: &'a str,
    as_of: DateTime<Utc>,
    batch: &'a RecordBatch,
    pii: bool,
}

impl<'a> Record<'a> {
    fn new(session: &'a Session, batch: &'a RecordBatch) -> Self {
        Record {
            snapshot: &session.snapshot().id,
            as_of: session.as_of().at,
            batch,
            pii: session.options().include_pii,
        }
    }

    fn customer(&self, row: usize) -> Result<Customer> {
        let onboarding = match self.timestamp("onboarding_started_at", row)? {
            None => None,
            Some(started_at) => Some(Onboarding {
                started_at,
                last_step_completed: self
                    .i32("onboarding_last_step_completed", row)?
                    .unwrap_or(0),
                total_steps: self.i32("onboarding_total_steps", row)?.unwrap_or(0),
                completed_at: self.timestamp("onboarding_completed_at", row)?,
                responses: self.string("onboarding_responses", row)?.map(|text| {
                    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
                }),
            }),
        };
        let pii = if self.pii {
            Some(Pii {
                email: self.string("email", row)?,
                first_name: self.string("first_name", row)?,
                last_name: self.string("last_name", row)?,
                date_of_birth: self.date("date_of_birth", row)?,
            })
        } else {
            None
        };
        Ok(Customer {
            snapshot: self.snapshot.to_string(),
            as_of: self.as_of,
            id: self.required(self.i64("id", row)?, "id")?,
            display_name: self.string("display_name", row)?,
            pii,
            created_at: self.required(self.timestamp("created_at", row)?, "created_at")?,
            cohort_week: self.required(self.date("cohort_week", row)?, "cohort_week")?,
            is_active: self.bool("is_active", row)?.unwrap_or(true),
            onboarding,
            activity: Activity {
                logins_total: self.count("activity_logins_total", row)?,
                logins_last_30_days: self.count("activity_logins_last_30_days", row)?,
                last_login_at: self.timestamp("activity_last_login_at", row)?,
                dashboard_accesses: self.count("activity_dashboard_accesses", row)?,
                active_weeks: self.count("activity_active_weeks", row)?,
            },
            transactions: Transactions {
                count: self.count("transactions_count", row)?,
                first_date: self.date("transactions_first_date", row)?,
                last_date: self.date("transactions_last_date", row)?,
                banks: self.strings("transactions_banks", row)?,
                total_in: self.money("transactions_total_in", row)?,
                total_out: self.money("transactions_total_out", row)?,
                statement_uploads: self.count("transactions_statement_uploads", row)?,
            },
        })
    }

    fn required<T>(&self, value: Option<T>, column: &str) -> Result<T> {
        value.ok_or_else(|| internal(&format!("customer column '{column}' is NULL")))
    }

    fn column(&self, name: &str) -> Result<&ArrayRef> {
        values::column(self.batch, QUERY, name)
    }

    fn i64(&self, name: &str, row: usize) -> Result<Option<i64>> {
        let a = typed(self.batch, QUERY, name, |a| {
            a.as_primitive_opt::<Int64Type>()
        })?;
        Ok(a.is_valid(row).then(|| a.value(row)))
    }

    fn count(&self, name: &str, row: usize) -> Result<i64> {
        Ok(self.i64(name, row)?.unwrap_or(0))
    }

    fn i32(&self, name: &str, row: usize) -> Result<Option<i32>> {
        let a = typed(self.batch, QUERY, name, |a| {
            a.as_primitive_opt::<Int32Type>()
        })?;
        Ok(a.is_valid(row).then(|| a.value(row)))
    }

    fn bool(&self, name: &str, row: usize) -> Result<Option<bool>> {
        let a = typed(self.batch, QUERY, name, |a| a.as_boolean_opt())?;
        Ok(a.is_valid(row).then(|| a.value(row)))
    }

    fn string(&self, name: &str, row: usize) -> Result<Option<String>> {
        let column = self.column(name)?;
        if let Some(views) = column.as_string_view_opt() {
            return Ok(views.is_valid(row).then(|| views.value(row).to_string()));
        }
        let a = typed(self.batch, QUERY, name, |a| a.as_string_opt::<i32>())?;
        Ok(a.is_valid(row).then(|| a.value(row).to_string()))
    }

    fn date(&self, name: &str, row: usize) -> Result<Option<NaiveDate>> {
        let a = typed(self.batch, QUERY, name, |a| {
            a.as_primitive_opt::<Date32Type>()
        })?;
        Ok(a.is_valid(row).then(|| a.value_as_date(row)).flatten())
    }

    fn timestamp(&self, name: &str, row: usize) -> Result<Option<DateTime<Utc>>> {
        let a = typed(self.batch, QUERY, name, |a| {
            a.as_primitive_opt::<TimestampMicrosecondType>()
        })?;
        Ok(a.is_valid(row)
            .then(|| DateTime::from_timestamp_micros(a.value(row)))
            .flatten())
    }

    fn money(&self, name: &str, row: usize) -> Result<String> {
        let a = typed(self.batch, QUERY, name, |a| {
            a.as_primitive_opt::<Decimal128Type>()
        })?;
        Ok(if a.is_valid(row) {
            a.value_as_string(row)
        } else {
            "0.00".to_string()
        })
    }

    fn strings(&self, name: &str, row: usize) -> Result<Vec<String>> {
        let column = self.column(name)?;
        let lists = column
            .as_list_opt::<i32>()
            .ok_or_else(|| internal(&format!("customer column '{name}' is not a list")))?;
        if lists.is_null(row) {
            return Ok(Vec::new());
        }
        let values = lists.value(row);
        let strings: &StringArray = values.as_string_opt::<i32>().ok_or_else(|| {
            internal(&format!(
                "customer column '{name}' is not a list of strings"
            ))
        })?;
        Ok(strings.iter().flatten().map(str::to_string).collect())
    }
}

/// What the record's errors name.
const QUERY: &str = "customer record";

fn internal(message: &str) -> Error {
    Error::query(
        "customer record",
        DataFusionError::Internal(message.to_string()),
    )
}
