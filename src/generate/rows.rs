//! One builder per generated table. Each draws its values from the chunk's RNG in a
//! fixed order (for each user in turn: the account, personal data, onboarding, events,
//! statements), so a seed always gives the same rows, and each finishes into a batch
//! with the table's canonical schema from [`crate::source::schema`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::source::schema::{
    L0_PII_USERS, L0_USER_TOKENIZATION, ONBOARDING_RESPONSES, TRANSACTIONS, TableSpec, USER_EVENTS,
    USERS,
};

const EVENT_TYPES: [(&str, u32); 6] = [
    ("login", 44),
    ("dashboard_access", 34),
    ("notification_open", 9),
    ("feedback", 4),
    ("settings_change", 5),
    ("export_csv", 4),
];
const BANKS: [(&str, u32); 15] = [
    ("Monzo", 18),
    ("Barclays", 14),
    ("HSBC", 12),
    ("Lloyds", 11),
    ("NatWest", 9),
    ("Santander", 8),
    ("Starling", 7),
    ("Revolut", 6),
    ("Nationwide", 5),
    ("Halifax", 3),
    ("TSB", 2),
    ("Metro Bank", 2),
    ("Virgin Money", 1),
    ("Co-operative Bank", 1),
    ("First Direct", 1),
];
const MERCHANTS: [(&str, &str); 12] = [
    ("Tesco", "groceries"),
    ("Sainsbury's", "groceries"),
    ("Amazon", "shopping"),
    ("TfL", "transport"),
    ("Uber", "transport"),
    ("Netflix", "subscriptions"),
    ("Spotify", "subscriptions"),
    ("Pret A Manger", "eating_out"),
    ("Deliveroo", "eating_out"),
    ("British Gas", "bills"),
    ("Thames Water", "bills"),
    ("Boots", "health"),
];
const FIRST_NAMES: [&str; 10] = [
    "Olivia", "Noah", "Amelia", "George", "Isla", "Arthur", "Ava", "Leo", "Mia", "Oscar",
];
const LAST_NAMES: [&str; 10] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Wright",
];
const DEVICES: [&str; 3] = [
    r#"{"device":"ios"}"#,
    r#"{"device":"android"}"#,
    r#"{"device":"web"}"#,
];
const GOALS: [&str; 4] = ["save", "budget", "debt", "invest"];

/// A batch of `spec`'s canonical columns but those in `without`.
fn batch(spec: &TableSpec, without: &[&str], columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(spec.arrow_schema(without), columns)
        .expect("the generator builds batches of its tables' schemas")
}

fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

pub(super) fn pick<'a, T>(rng: &mut Pcg64Mcg, weighted: &'a [(T, u32)]) -> &'a T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (value, weight) in weighted {
        if roll < *weight {
            return value;
        }
        roll -= weight;
    }
    &weighted[0].0
}

/// An exponential draw with the given mean.
pub(super) fn exp(rng: &mut Pcg64Mcg, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// `users`, one row per user.
pub(super) struct Users {
    id: Int64Builder,
    email: StringBuilder,
    password_hash: StringBuilder,
    display_name: StringBuilder,
    login_attempts: Int32Builder,
    created_at: TimestampMicrosecondBuilder,
    is_active: BooleanBuilder,
}

impl Users {
    pub fn new() -> Self {
        Users {
            id: Int64Builder::new(),
            email: StringBuilder::new(),
            password_hash: StringBuilder::new(),
            display_name: StringBuilder::new(),
            login_attempts: Int32Builder::new(),
            created_at: timestamps(),
            is_active: BooleanBuilder::new(),
        }
    }

    pub fn push(&mut self, rng: &mut Pcg64Mcg, id: i64, signup: DateTime<Utc>) {
        self.id.append_value(id);
        self.email.append_value(format!("user{id}@example.com"));
        self.password_hash.append_value(format!(
            "$argon2id$v=19$m=65536,t=3,p=4${:016x}",
            rng.random::<u64>()
        ));
        if rng.random_bool(0.7) {
            self.display_name.append_value(format!(
                "{} {}",
                FIRST_NAMES[rng.random_range(0..10)],
                &LAST_NAMES[rng.random_range(0..10)][..1]
            ));
        } else {
            self.display_name.append_null();
        }
        self.login_attempts.append_value(rng.random_range(0..4));
        self.created_at.append_value(micros(signup));
        match rng.random_range(0..100) {
            0..88 => self.is_active.append_value(true),
            88..95 => self.is_active.append_value(false),
            _ => self.is_active.append_null(),
        }
    }

    pub fn finish(mut self) -> RecordBatch {
        batch(
            &USERS,
            &[],
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.email.finish()),
                Arc::new(self.password_hash.finish()),
                Arc::new(self.display_name.finish()),
                Arc::new(self.login_attempts.finish()),
                Arc::new(self.created_at.finish()),
                Arc::new(self.is_active.finish()),
            ],
        )
    }
}

/// `l0_pii_users`, one row per user.
pub(super) struct PiiUsers {
    internal_user_id: Int64Builder,
    first_name: StringBuilder,
    last_name: StringBuilder,
    date_of_birth: Date32Builder,
}

impl PiiUsers {
    pub fn new() -> Self {
        PiiUsers {
            internal_user_id: Int64Builder::new(),
            first_name: StringBuilder::new(),
            last_name: StringBuilder::new(),
            date_of_birth: Date32Builder::new(),
        }
    }

    pub fn push(&mut self, rng: &mut Pcg64Mcg, id: i64) {
        self.internal_user_id.append_value(id);
        self.first_name
            .append_value(FIRST_NAMES[rng.random_range(0..10)]);
        self.last_name
            .append_value(LAST_NAMES[rng.random_range(0..10)]);
        self.date_of_birth.append_value(
            days_since_epoch(NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or_default())
                + rng.random_range(0..16_000),
        );
    }

    pub fn finish(mut self) -> RecordBatch {
        batch(
            &L0_PII_USERS,
            &[],
            vec![
                Arc::new(self.internal_user_id.finish()),
                Arc::new(self.first_name.finish()),
                Arc::new(self.last_name.finish()),
                Arc::new(self.date_of_birth.finish()),
            ],
        )
    }
}

/// `l0_user_tokenization`, one row per user.
pub(super) struct Tokens {
    internal_user_id: Int64Builder,
    tokenized_user_id: StringBuilder,
}

impl Tokens {
    pub fn new() -> Self {
        Tokens {
            internal_user_id: Int64Builder::new(),
            tokenized_user_id: StringBuilder::new(),
        }
    }

    pub fn push(&mut self, id: i64, token: &str) {
        self.internal_user_id.append_value(id);
        self.tokenized_user_id.append_value(token);
    }

    pub fn finish(mut self) -> RecordBatch {
        batch(
            &L0_USER_TOKENIZATION,
            &[],
            vec![
                Arc::new(self.internal_user_id.finish()),
                Arc::new(self.tokenized_user_id.finish()),
            ],
        )
    }
}

/// `onboarding_responses` without `id`: most users start; each step loses some; newer
/// signups have 8 steps.
pub(super) struct Onboarding {
    user_id: Int64Builder,
    started_at: TimestampMicrosecondBuilder,
    total_steps: Int32Builder,
    last_step_completed: Int32Builder,
    completed_at: TimestampMicrosecondBuilder,
    responses: StringBuilder,
    updated_at: TimestampMicrosecondBuilder,
}

impl Onboarding {
    pub fn new() -> Self {
        Onboarding {
            user_id: Int64Builder::new(),
            started_at: timestamps(),
            total_steps: Int32Builder::new(),
            last_step_completed: Int32Builder::new(),
            completed_at: timestamps(),
            responses: StringBuilder::new(),
            updated_at: timestamps(),
        }
    }

    /// `position` is the signup's place in the signup span, 0 (first) to 1 (export).
    pub fn push(
        &mut self,
        rng: &mut Pcg64Mcg,
        id: i64,
        signup: DateTime<Utc>,
        position: f64,
        end: DateTime<Utc>,
    ) {
        if !rng.random_bool(0.85) {
            return;
        }
        let started = signup + TimeDelta::seconds(exp(rng, 1800.0) as i64 + 5);
        let total: i32 = if position > 0.5 { 8 } else { 6 };
        let mut last = 0;
        while last < total && rng.random_bool(0.9 - 0.03 * f64::from(last)) {
            last += 1;
        }
        let completed = (last == total)
            .then(|| started + TimeDelta::seconds(exp(rng, 20.0 * 3600.0) as i64 + 60));
        let completed = completed.filter(|c| *c <= end);
        let last = if completed.is_none() && last == total {
            total - 1
        } else {
            last
        };
        self.user_id.append_value(id);
        self.started_at.append_value(micros(started.min(end)));
        self.total_steps.append_value(total);
        self.last_step_completed.append_value(last);
        self.completed_at.append_option(completed.map(micros));
        self.responses.append_value(format!(
            r#"{{"goal":"{}","income_band":{}}}"#,
            GOALS[rng.random_range(0..4)],
            rng.random_range(1..6)
        ));
        self.updated_at
            .append_value(micros(completed.unwrap_or(started).min(end)));
    }

    pub fn finish(mut self) -> RecordBatch {
        batch(
            &ONBOARDING_RESPONSES,
            &["id"],
            vec![
                Arc::new(self.user_id.finish()),
                Arc::new(self.started_at.finish()),
                Arc::new(self.total_steps.finish()),
                Arc::new(self.last_step_completed.finish()),
                Arc::new(self.completed_at.finish()),
                Arc::new(self.responses.finish()),
                Arc::new(self.updated_at.finish()),
            ],
        )
    }
}

/// The columns of one month's `user_events` (without `id`).
struct EventColumns {
    user_id: Int64Builder,
    event_type: StringBuilder,
    event_timestamp: TimestampMicrosecondBuilder,
    metadata: StringBuilder,
}

/// `user_events` without `id`, by month of `event_timestamp` (`YYYY-MM`), as a Hive
/// partitioned export writes them. Events cluster early in a user's activity window.
pub(super) struct Events {
    months: BTreeMap<String, EventColumns>,
    times: Vec<DateTime<Utc>>,
}

impl Events {
    pub fn new() -> Self {
        Events {
            months: BTreeMap::new(),
            times: Vec::new(),
        }
    }

    pub fn push(&mut self, rng: &mut Pcg64Mcg, id: i64, signup: DateTime<Utc>, window: TimeDelta) {
        let n_events = 1 + exp(rng, 99.0) as usize;
        let times = &mut self.times;
        times.clear();
        times.push(signup + TimeDelta::seconds(rng.random_range(10..600)));
        for _ in 1..n_events {
            let u: f64 = rng.random();
            times.push(
                signup + TimeDelta::seconds((window.num_seconds() as f64 * u.powf(1.6)) as i64),
            );
        }
        times.sort();
        for (k, at) in times.iter().enumerate() {
            let month = format!("{:04}-{:02}", at.year(), at.month());
            let columns = self.months.entry(month).or_insert_with(|| EventColumns {
                user_id: Int64Builder::new(),
                event_type: StringBuilder::new(),
                event_timestamp: timestamps(),
                metadata: StringBuilder::new(),
            });
            columns.user_id.append_value(id);
            columns.event_type.append_value(if k == 0 {
                "login"
            } else {
                pick(rng, &EVENT_TYPES)
            });
            columns.event_timestamp.append_value(micros(*at));
            if rng.random_bool(0.3) {
                columns
                    .metadata
                    .append_value(DEVICES[rng.random_range(0..3)]);
            } else {
                columns.metadata.append_null();
            }
        }
    }

    /// `YYYY-MM` -> that month's events.
    pub fn finish(self) -> BTreeMap<String, RecordBatch> {
        self.months
            .into_iter()
            .map(|(month, mut c)| {
                let events = batch(
                    &USER_EVENTS,
                    &["id"],
                    vec![
                        Arc::new(c.user_id.finish()),
                        Arc::new(c.event_type.finish()),
                        Arc::new(c.event_timestamp.finish()),
                        Arc::new(c.metadata.finish()),
                    ],
                );
                (month, events)
            })
            .collect()
    }
}

/// Legacy `transactions` without `id`, and each row's user token for the analytics
/// copy: 0-3 statement uploads per user, each ~13 transactions from the 60 days before.
pub(super) struct Transactions {
    user_id: Int64Builder,
    token: StringBuilder,
    date: Date32Builder,
    description: StringBuilder,
    merchant: StringBuilder,
    amount: Decimal128Builder,
    cashflow: StringBuilder,
    account: StringBuilder,
    category: StringBuilder,
    label: StringBuilder,
    created_at: TimestampMicrosecondBuilder,
    upload_session_id: StringBuilder,
}

impl Transactions {
    pub fn new() -> Self {
        Transactions {
            user_id: Int64Builder::new(),
            token: StringBuilder::new(),
            date: Date32Builder::new(),
            description: StringBuilder::new(),
            merchant: StringBuilder::new(),
            amount: Decimal128Builder::new(),
            cashflow: StringBuilder::new(),
            account: StringBuilder::new(),
            category: StringBuilder::new(),
            label: StringBuilder::new(),
            created_at: timestamps(),
            upload_session_id: StringBuilder::new(),
        }
    }

    pub fn push(
        &mut self,
        rng: &mut Pcg64Mcg,
        id: i64,
        token: &str,
        signup: DateTime<Utc>,
        window: TimeDelta,
        end: DateTime<Utc>,
    ) {
        let uploads = *pick(rng, &[(0u32, 20), (1, 30), (2, 30), (3, 20)]);
        let bank = *pick(rng, &BANKS);
        for k in 0..uploads {
            let uploaded = signup
                + TimeDelta::seconds(
                    (window.num_seconds() as f64 * rng.random::<f64>()) as i64 + 60,
                );
            let uploaded = uploaded.min(end);
            let account = if rng.random_bool(0.8) {
                bank
            } else {
                *pick(rng, &BANKS)
            };
            let session = format!("ups-{id:08}-{k}");
            let rows = rng.random_range(6..=20);
            for _ in 0..rows {
                let (merchant, category) = MERCHANTS[rng.random_range(0..MERCHANTS.len())];
                let inflow = rng.random_bool(0.25);
                let date = (uploaded - TimeDelta::days(rng.random_range(0..60))).date_naive();
                self.user_id.append_value(id);
                self.token.append_value(token);
                self.date.append_value(days_since_epoch(date));
                self.description.append_value(if inflow {
                    format!(
                        "TRANSFER FROM {}",
                        LAST_NAMES[rng.random_range(0..10)].to_uppercase()
                    )
                } else {
                    format!("CARD PAYMENT TO {}", merchant.to_uppercase())
                });
                if inflow {
                    self.merchant.append_null()
                } else {
                    self.merchant.append_value(merchant)
                }
                self.amount
                    .append_value((exp(rng, 35.0) * 100.0) as i128 + 1);
                self.cashflow
                    .append_value(if inflow { "in" } else { "out" });
                self.account.append_value(account);
                if inflow {
                    self.category.append_value("income")
                } else {
                    self.category.append_value(category)
                }
                if rng.random_bool(0.1) {
                    self.label.append_value("reviewed")
                } else {
                    self.label.append_null()
                }
                self.created_at.append_value(micros(uploaded));
                self.upload_session_id.append_value(&session);
            }
        }
    }

    /// The legacy rows and, row for row, their users' tokens.
    pub fn finish(mut self) -> (RecordBatch, ArrayRef) {
        let legacy = batch(
            &TRANSACTIONS,
            &["id"],
            vec![
                Arc::new(self.user_id.finish()),
                Arc::new(self.date.finish()),
                Arc::new(self.description.finish()),
                Arc::new(self.merchant.finish()),
                Arc::new(
                    self.amount
                        .finish()
                        .with_precision_and_scale(18, 2)
                        .expect("valid decimal type"),
                ),
                Arc::new(self.cashflow.finish()),
                Arc::new(self.account.finish()),
                Arc::new(self.category.finish()),
                Arc::new(self.label.finish()),
                Arc::new(self.created_at.finish()),
                Arc::new(self.upload_session_id.finish()),
            ],
        );
        (legacy, Arc::new(self.token.finish()))
    }
}
