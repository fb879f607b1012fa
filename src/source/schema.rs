//! The canonical schema of each source table, and the rules that map what an export
//! actually wrote onto it.
//!
//! Files are checked one by one against these rules before DataFusion sees them, so a bad
//! column is reported with its file; the casts themselves are left to DataFusion's scan.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The type a column is normalised to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int64,
    Int32,
    Utf8,
    Boolean,
    Date32,
    Timestamp,
    Amount,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Int64 => DataType::Int64,
            Kind::Int32 => DataType::Int32,
            Kind::Utf8 => DataType::Utf8,
            Kind::Boolean => DataType::Boolean,
            Kind::Date32 => DataType::Date32,
            Kind::Timestamp => timestamp_utc(),
            Kind::Amount => DataType::Decimal128(18, 2),
        }
    }

    /// Whether a file's `found` type can be read as this kind.
    pub fn accepts(self, found: &DataType) -> bool {
        match self {
            Kind::Int64 | Kind::Int32 => found.is_integer(),
            Kind::Utf8 => is_string(found),
            Kind::Boolean => matches!(found, DataType::Boolean),
            Kind::Date32 => matches!(found, DataType::Date32 | DataType::Date64),
            Kind::Timestamp => matches!(found, DataType::Timestamp(_, _)),
            Kind::Amount => {
                found.is_integer()
                    || found.is_floating()
                    || matches!(
                        found,
                        DataType::Decimal128(_, _) | DataType::Decimal256(_, _)
                    )
            }
        }
    }

    /// How the rule reads in an error message.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Int64 | Kind::Int32 => "an integer of any width",
            Kind::Utf8 => "a string (Utf8, LargeUtf8 or Utf8View)",
            Kind::Boolean => "Boolean",
            Kind::Date32 => "a date (Date32 or Date64)",
            Kind::Timestamp => "a timestamp of any unit, with or without a time zone",
            Kind::Amount => "a decimal, float or integer amount",
        }
    }
}

pub fn timestamp_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => is_string(value),
        _ => false,
    }
}

/// The type an extra (unspecified) column is exposed as, so that files written by
/// different exporter versions agree: string kinds become `Utf8`, timestamps µs UTC.
pub fn normalise_extra(found: &DataType) -> DataType {
    match found {
        t if is_string(t) => DataType::Utf8,
        DataType::Timestamp(_, _) => timestamp_utc(),
        other => other.clone(),
    }
}

/// Who may see a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    /// Registered only with `--include-pii`.
    Pii,
    /// Never registered, selectable or written anywhere.
    Secret,
}

/// Whether a column must be in every file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    /// Added to the source schema later; older exports lack it and it reads as NULL.
    Added,
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub presence: Presence,
    pub visibility: Visibility,
    /// Whether the application's table allows NULL here. Readers never rely on it (a
    /// file may say otherwise); writers of canonical files (the generator) follow it.
    pub nullable: bool,
}

impl ColumnSpec {
    /// The column as a writer of canonical files declares it.
    pub fn field(&self) -> Field {
        Field::new(self.name, self.kind.data_type(), self.nullable)
    }

    const fn or_null(self) -> ColumnSpec {
        ColumnSpec {
            nullable: true,
            ..self
        }
    }
}

/// A source table the spec defines.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub name: &'static str,
    pub columns: &'static [ColumnSpec],
    /// Columns not named in the spec take this visibility.
    pub extra_visibility: Visibility,
}

impl TableSpec {
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The table's canonical Arrow schema, as a writer of canonical files (the generator,
    /// the test fixtures) declares it, without the columns named in `without` (those a
    /// writer adds later, such as an `id` it assigns).
    pub fn arrow_schema(&self, without: &[&str]) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .filter(|c| !without.contains(&c.name))
            .map(ColumnSpec::field)
            .collect();
        Arc::new(Schema::new(fields))
    }
}

const fn col(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        presence: Presence::Required,
        visibility: Visibility::Public,
        nullable: false,
    }
}

const fn added(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        presence: Presence::Added,
        ..col(name, kind)
    }
}

const fn pii(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        visibility: Visibility::Pii,
        ..col(name, kind)
    }
}

const fn pii_added(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        presence: Presence::Added,
        ..pii(name, kind)
    }
}

const fn secret(name: &'static str) -> ColumnSpec {
    ColumnSpec {
        visibility: Visibility::Secret,
        presence: Presence::Added,
        ..col(name, Kind::Utf8)
    }
}

use Kind::*;

pub const USERS: TableSpec = TableSpec {
    name: "users",
    columns: &[
        col("id", Int64),
        pii("email", Utf8),
        secret("password_hash"),
        col("display_name", Utf8).or_null(),
        col("login_attempts", Int32),
        col("created_at", Timestamp),
        added("is_active", Boolean).or_null(),
    ],
    extra_visibility: Visibility::Public,
};

pub const USER_EVENTS: TableSpec = TableSpec {
    name: "user_events",
    columns: &[
        col("id", Int64),
        col("user_id", Int64),
        col("event_type", Utf8),
        col("event_timestamp", Timestamp),
        col("metadata", Utf8).or_null(),
    ],
    extra_visibility: Visibility::Public,
};

const TRANSACTION_FACTS: [ColumnSpec; 9] = [
    col("description", Utf8),
    col("merchant", Utf8).or_null(),
    col("amount", Amount),
    col("cashflow", Utf8),
    col("account", Utf8).or_null(),
    col("category", Utf8).or_null(),
    col("label", Utf8).or_null(),
    col("created_at", Timestamp),
    added("upload_session_id", Utf8).or_null(),
];

/// The legacy table and the analytics layer differ only in the user key and date name.
macro_rules! transactions_spec {
    ($name:literal, $user:expr, $date:literal) => {
        TableSpec {
            name: $name,
            columns: &[
                col("id", Int64),
                $user,
                col($date, Date32),
                TRANSACTION_FACTS[0],
                TRANSACTION_FACTS[1],
                TRANSACTION_FACTS[2],
                TRANSACTION_FACTS[3],
                TRANSACTION_FACTS[4],
                TRANSACTION_FACTS[5],
                TRANSACTION_FACTS[6],
                TRANSACTION_FACTS[7],
                TRANSACTION_FACTS[8],
            ],
            extra_visibility: Visibility::Public,
        }
    };
}

pub const TRANSACTIONS: TableSpec =
    transactions_spec!("transactions", col("user_id", Int64), "date");

pub const L1_TRANSACTION_FACTS: TableSpec = transactions_spec!(
    "l1_transaction_facts",
    col("tokenized_user_id", Utf8),
    "transaction_date"
);

pub const L0_USER_TOKENIZATION: TableSpec = TableSpec {
    name: "l0_user_tokenization",
    columns: &[
        col("internal_user_id", Int64),
        col("tokenized_user_id", Utf8),
    ],
    extra_visibility: Visibility::Public,
};

pub const L0_PII_USERS: TableSpec = TableSpec {
    name: "l0_pii_users",
    columns: &[
        pii("internal_user_id", Int64),
        pii("first_name", Utf8),
        pii("last_name", Utf8),
        pii_added("date_of_birth", Date32).or_null(),
    ],
    extra_visibility: Visibility::Pii,
};

pub const ONBOARDING_RESPONSES: TableSpec = TableSpec {
    name: "onboarding_responses",
    columns: &[
        col("id", Int64),
        col("user_id", Int64),
        col("started_at", Timestamp),
        col("total_steps", Int32),
        col("last_step_completed", Int32),
        col("completed_at", Timestamp).or_null(),
        col("responses", Utf8).or_null(),
        col("updated_at", Timestamp),
    ],
    extra_visibility: Visibility::Public,
};

/// Every table the spec defines, in the order `tables` lists them.
pub const ALL: [&TableSpec; 7] = [
    &USERS,
    &USER_EVENTS,
    &TRANSACTIONS,
    &L1_TRANSACTION_FACTS,
    &L0_USER_TOKENIZATION,
    &L0_PII_USERS,
    &ONBOARDING_RESPONSES,
];

pub fn spec(name: &str) -> Option<&'static TableSpec> {
    ALL.into_iter().find(|t| t.name == name)
}

/// Whether `name` is a table of personal data, read only with `--include-pii`.
pub fn is_pii_table(name: &str) -> bool {
    spec(name).is_some_and(|s| s.extra_visibility == Visibility::Pii)
}

/// The schema a table is exposed with: canonical columns first, in spec order, then
/// the extra columns found in the files; hidden columns left out.
pub fn exposed_schema(spec: &TableSpec, extras: &[Field], include_pii: bool) -> SchemaRef {
    let visible = |v: Visibility| match v {
        Visibility::Public => true,
        Visibility::Pii => include_pii,
        Visibility::Secret => false,
    };
    let mut fields: Vec<Field> = spec
        .columns
        .iter()
        .filter(|c| visible(c.visibility))
        .map(|c| Field::new(c.name, c.kind.data_type(), true))
        .collect();
    if visible(spec.extra_visibility) {
        fields.extend(extras.iter().cloned());
    }
    Arc::new(Schema::new(fields))
}
