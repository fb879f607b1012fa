//! What to read from each table: the spec's columns (`src/source/schema.rs`) that the
//! database has, then its extra columns, each with the cast that gives the canonical
//! type. Columns are always listed; `password_hash` never is.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use tokio_postgres::types::Type;

use crate::source::schema::{Kind, Presence, TableSpec, Visibility, timestamp_utc};

/// How one column's binary values are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    Int64,
    Int32,
    Float64,
    Text,
    Boolean,
    Date,
    Timestamp,
    Amount,
}

impl Decode {
    pub fn data_type(self) -> DataType {
        match self {
            Decode::Int64 => DataType::Int64,
            Decode::Int32 => DataType::Int32,
            Decode::Float64 => DataType::Float64,
            Decode::Text => DataType::Utf8,
            Decode::Boolean => DataType::Boolean,
            Decode::Date => DataType::Date32,
            Decode::Timestamp => timestamp_utc(),
            Decode::Amount => DataType::Decimal128(18, 2),
        }
    }

    /// The PostgreSQL type the SELECT casts to, which the binary COPY then carries.
    pub fn wire_type(self) -> Type {
        match self {
            Decode::Int64 => Type::INT8,
            Decode::Int32 => Type::INT4,
            Decode::Float64 => Type::FLOAT8,
            Decode::Text => Type::TEXT,
            Decode::Boolean => Type::BOOL,
            Decode::Date => Type::DATE,
            Decode::Timestamp => Type::TIMESTAMPTZ,
            Decode::Amount => Type::NUMERIC,
        }
    }

    fn of_kind(kind: Kind) -> Decode {
        match kind {
            Kind::Int64 => Decode::Int64,
            Kind::Int32 => Decode::Int32,
            Kind::Utf8 => Decode::Text,
            Kind::Boolean => Decode::Boolean,
            Kind::Date32 => Decode::Date,
            Kind::Timestamp => Decode::Timestamp,
            Kind::Amount => Decode::Amount,
        }
    }
}

/// A column as `information_schema.columns` describes it.
#[derive(Debug, Clone)]
pub struct SourceColumn {
    pub name: String,
    /// `udt_name`: `int8`, `timestamptz`, `jsonb`, …
    pub udt: String,
}

/// One exported column: its name, the SELECT expression and how to decode it.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub select: String,
    pub decode: Decode,
}

/// The columns of one table, in file order: the spec's first, then the extras.
#[derive(Debug, Clone)]
pub struct TablePlan {
    pub table: &'static str,
    pub columns: Vec<Column>,
}

impl TablePlan {
    /// Plans `spec` against the columns the database has; the problem, if a required
    /// column is missing or of a type that cannot become the canonical one.
    pub fn new(
        spec: &'static TableSpec,
        found: &[SourceColumn],
        include_pii: bool,
    ) -> Result<TablePlan, String> {
        let visible = |v: Visibility| match v {
            Visibility::Public => true,
            Visibility::Pii => include_pii,
            Visibility::Secret => false,
        };
        let mut columns = Vec::new();
        for wanted in spec.columns.iter().filter(|c| visible(c.visibility)) {
            let Some(column) = found.iter().find(|c| c.name == wanted.name) else {
                if wanted.presence == Presence::Required {
                    return Err(format!(
                        "has no column '{}' (a required column of {})",
                        wanted.name, spec.name
                    ));
                }
                continue;
            };
            let decode = Decode::of_kind(wanted.kind);
            let select = cast(&column.name, &column.udt, decode).ok_or_else(|| {
                format!(
                    "column '{}' is of type {}, expected {}",
                    column.name,
                    column.udt,
                    expected(wanted.kind)
                )
            })?;
            columns.push(Column {
                name: column.name.clone(),
                select,
                decode,
            });
        }
        if visible(spec.extra_visibility) {
            for column in found.iter().filter(|c| spec.column(&c.name).is_none()) {
                let decode = extra_decode(&column.udt);
                let select = cast(&column.name, &column.udt, decode)
                    .unwrap_or_else(|| format!("{}::text", quote(&column.name)));
                columns.push(Column {
                    name: column.name.clone(),
                    select,
                    decode,
                });
            }
        }
        Ok(TablePlan {
            table: spec.name,
            columns,
        })
    }

    /// `COPY (SELECT … FROM table) TO STDOUT (FORMAT binary)`.
    pub fn copy_statement(&self) -> String {
        let list: Vec<&str> = self.columns.iter().map(|c| c.select.as_str()).collect();
        format!(
            "COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)",
            list.join(", "),
            quote(self.table)
        )
    }

    pub fn wire_types(&self) -> Vec<Type> {
        self.columns.iter().map(|c| c.decode.wire_type()).collect()
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.decode.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }

    /// The column that identifies a row in messages (`id`, or the user key).
    pub fn row_key(&self) -> Option<usize> {
        ["id", "internal_user_id"]
            .iter()
            .find_map(|key| self.columns.iter().position(|c| c.name == *key))
    }
}

/// A double-quoted identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The expression that reads column `name` of PostgreSQL type `udt` as `decode`, or
/// `None` when that type cannot become it.
fn cast(name: &str, udt: &str, decode: Decode) -> Option<String> {
    let q = quote(name);
    let integer = matches!(udt, "int2" | "int4" | "int8");
    let expression = match decode {
        Decode::Int64 if integer => format!("{q}::int8"),
        Decode::Int32 if integer => format!("{q}::int4"),
        Decode::Float64 if matches!(udt, "float4" | "float8") => format!("{q}::float8"),
        Decode::Text
            if matches!(
                udt,
                "text" | "varchar" | "bpchar" | "json" | "jsonb" | "uuid" | "citext" | "name"
            ) =>
        {
            format!("{q}::text")
        }
        Decode::Boolean if udt == "bool" => q,
        Decode::Date if udt == "date" => q,
        Decode::Timestamp if udt == "timestamptz" => q,
        // A timestamp without time zone is read as UTC (SPEC §8).
        Decode::Timestamp if udt == "timestamp" => format!("({q} AT TIME ZONE 'UTC')"),
        // numeric(18,2) makes the server refuse an amount beyond 18 digits.
        Decode::Amount if integer || matches!(udt, "numeric" | "float4" | "float8" | "money") => {
            format!("{q}::numeric(18,2)")
        }
        _ => return None,
    };
    Some(expression)
}

fn extra_decode(udt: &str) -> Decode {
    match udt {
        "int2" | "int4" => Decode::Int32,
        "int8" => Decode::Int64,
        "float4" | "float8" => Decode::Float64,
        "bool" => Decode::Boolean,
        "date" => Decode::Date,
        "timestamptz" | "timestamp" => Decode::Timestamp,
        _ => Decode::Text,
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Int64 | Kind::Int32 => "an integer (smallint, integer or bigint)",
        Kind::Utf8 => "text (text, varchar, char, json, jsonb or uuid)",
        Kind::Boolean => "boolean",
        Kind::Date32 => "date",
        Kind::Timestamp => "a timestamp (timestamptz, or timestamp read as UTC)",
        Kind::Amount => "a number (numeric, an integer or a float)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::schema::{L0_PII_USERS, USERS};

    fn found(columns: &[(&str, &str)]) -> Vec<SourceColumn> {
        columns
            .iter()
            .map(|(name, udt)| SourceColumn {
                name: name.to_string(),
                udt: udt.to_string(),
            })
            .collect()
    }

    #[test]
    fn users_never_selects_the_password_and_email_only_with_pii() {
        let columns = found(&[
            ("id", "int4"),
            ("email", "varchar"),
            ("password_hash", "text"),
            ("display_name", "text"),
            ("login_attempts", "int4"),
            ("created_at", "timestamp"),
            ("plan", "my_enum"),
        ]);
        let plan = TablePlan::new(&USERS, &columns, false).expect("plan");
        let statement = plan.copy_statement();
        assert_eq!(
            statement,
            "COPY (SELECT \"id\"::int8, \"display_name\"::text, \"login_attempts\"::int4, (\"created_at\" AT TIME ZONE 'UTC'), \"plan\"::text FROM \"users\") TO STDOUT (FORMAT binary)"
        );
        let with_pii = TablePlan::new(&USERS, &columns, true).expect("plan");
        assert!(with_pii.copy_statement().contains("\"email\"::text"));
        assert!(!with_pii.copy_statement().contains("password_hash"));
        assert_eq!(plan.row_key(), Some(0));
    }

    #[test]
    fn missing_and_mistyped_columns_are_named() {
        let err = TablePlan::new(&USERS, &found(&[("id", "int8")]), false).expect_err("missing");
        assert!(err.contains("'display_name'"), "{err}");
        let err = TablePlan::new(
            &L0_PII_USERS,
            &found(&[
                ("internal_user_id", "int8"),
                ("first_name", "text"),
                ("last_name", "bytea"),
            ]),
            true,
        )
        .expect_err("bytea");
        assert_eq!(
            err,
            "column 'last_name' is of type bytea, expected text (text, varchar, char, json, jsonb or uuid)"
        );
    }

    #[test]
    fn odd_names_are_quoted() {
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
    }
}
