//! The session's views, defined once. Registration (`Session::open`), the report
//! manifest's SQL hashes and the DuckDB mirror (`benches/duckdb/session.json`) all read
//! [`VIEWS`], so a view added, renamed or reordered here is added, renamed or reordered
//! everywhere.

use serde::Serialize;

use crate::engine::session::TransactionsSource;

/// How the session registers a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Kind {
    /// `<table>_checked` over `reads`: every row, tagged with the first check it fails;
    /// then `<table>_clean`, the rows that pass ([`CLEAN_VIEW`]).
    Checked {
        table: &'static str,
        reads: &'static str,
        /// `<table>_duplicate_ids` (the ids of `reads` that occur more than once) is
        /// computed first, so that the view ranks only those rows.
        duplicate_ids: bool,
        /// `<table>_clean` is computed once and kept: nearly every query joins it.
        keep_clean: bool,
        /// The columns the view adds beside `reads`' own (`*`), helpers included.
        derives: &'static [&'static str],
    },
    /// `transactions_all`, when the session reads this copy of the facts.
    Transactions { source: TransactionsSource },
    /// Computed by the first query that reads it, then kept for the session.
    OnFirstUse,
    /// Reads the filters of the question being asked (bound when its query runs).
    Filter,
}

/// One view: its name in the session, the SQL file that defines it, and its kind.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct View {
    pub name: &'static str,
    /// Below `queries/`.
    pub file: &'static str,
    #[serde(skip)]
    pub sql: &'static str,
    #[serde(flatten)]
    pub kind: Kind,
}

macro_rules! view {
    ($name:literal, $file:literal, $kind:expr) => {
        View {
            name: $name,
            file: $file,
            sql: include_str!(concat!("../../queries/", $file)),
            kind: $kind,
        }
    };
}

const fn checked(
    table: &'static str,
    reads: &'static str,
    keep_clean: bool,
    derives: &'static [&'static str],
) -> Kind {
    Kind::Checked {
        table,
        reads,
        duplicate_ids: true,
        keep_clean,
        derives,
    }
}

/// Every view, in the order the session registers them (each reads only earlier ones).
pub const VIEWS: &[View] = &[
    view!(
        "users_checked",
        "views/users_checked.sql",
        checked(
            "users",
            "users",
            true,
            &[
                "dq_copy",
                "signup_date",
                "cohort_week",
                "signup_month",
                "dq_check"
            ]
        )
    ),
    view!(
        "l0_user_tokenization_checked",
        "views/l0_user_tokenization_checked.sql",
        Kind::Checked {
            table: "l0_user_tokenization",
            reads: "l0_user_tokenization",
            duplicate_ids: false,
            keep_clean: true,
            derives: &["dq_first", "dq_check"],
        }
    ),
    view!(
        "transactions_all_l1",
        "views/transactions_all_l1.sql",
        Kind::Transactions {
            source: TransactionsSource::L1
        }
    ),
    view!(
        "transactions_all_legacy",
        "views/transactions_all_legacy.sql",
        Kind::Transactions {
            source: TransactionsSource::Legacy
        }
    ),
    view!(
        "transactions_checked",
        "views/transactions_checked.sql",
        checked(
            "transactions",
            "transactions_all",
            false,
            &[
                "dq_copy",
                "transaction_month",
                "created_week",
                "created_month",
                "dq_check"
            ]
        )
    ),
    view!(
        "user_events_checked",
        "views/user_events_checked.sql",
        checked(
            "user_events",
            "user_events",
            false,
            &["dq_copy", "event_week", "event_month", "dq_check"]
        )
    ),
    view!(
        "onboarding_responses_checked",
        "views/onboarding_responses_checked.sql",
        checked(
            "onboarding_responses",
            "onboarding_responses",
            true,
            &["dq_copy", "dq_first", "dq_check"]
        )
    ),
    view!(
        "user_events_summary",
        "views/user_events_summary.sql",
        Kind::OnFirstUse
    ),
    view!(
        "transactions_summary",
        "views/transactions_summary.sql",
        Kind::OnFirstUse
    ),
    view!(
        "default_engagement_days",
        "views/default_engagement_days.sql",
        Kind::OnFirstUse
    ),
    view!(
        "default_engagement_weeks",
        "views/default_engagement_weeks.sql",
        Kind::OnFirstUse
    ),
    view!("report_users", "views/report_users.sql", Kind::Filter),
    view!("cohort_users", "views/cohort_users.sql", Kind::Filter),
    view!("cohort_weeks", "views/cohort_weeks.sql", Kind::Filter),
    view!(
        "engagement_weeks",
        "views/engagement_weeks.sql",
        Kind::Filter
    ),
    view!("engagement_days", "views/engagement_days.sql", Kind::Filter),
    view!("cohort_retained", "views/cohort_retained.sql", Kind::Filter),
];

/// The names the views give columns beside source table `table`'s own (`*`): a source
/// column or Hive partition key of that table with one of these names is registered
/// as `source_<name>`, so that the session's name means the session's value in every
/// view, and the source's value stays queryable.
pub fn derived_names(table: &str) -> impl Iterator<Item = &'static str> + '_ {
    VIEWS
        .iter()
        .filter_map(move |view| match view.kind {
            Kind::Checked { reads, derives, .. } if reads == table => Some(derives),
            _ => None,
        })
        .flatten()
        .copied()
}

/// `<table>_clean`: the rows of `<table>_checked` that pass every check.
pub const CLEAN_VIEW: &str = "SELECT * EXCLUDE (dq_check) FROM {checked} WHERE dq_check IS NULL";

/// The name the manifest gives [`CLEAN_VIEW`]'s hash.
pub const CLEAN_VIEW_NAME: &str = "clean";

/// Every view's SQL by name, [`CLEAN_VIEW`] included: what the manifest hashes.
pub fn sql_by_name() -> impl Iterator<Item = (&'static str, &'static str)> {
    VIEWS
        .iter()
        .map(|v| (v.name, v.sql))
        .chain([(CLEAN_VIEW_NAME, CLEAN_VIEW)])
}

/// The catalogue as the DuckDB mirror reads it (`benches/duckdb/session.json`): which
/// files to mirror, and what the session computes once instead of inlining.
pub fn mirror_json() -> String {
    let metrics: Vec<&str> = crate::metrics::METRICS.iter().map(|m| m.file).collect();
    let document = serde_json::json!({
        "_comment": "written by `cargo test` from src/engine/catalogue.rs (SNAPMETRICS_UPDATE_CATALOGUE=1 rewrites it); do not edit",
        "metrics": metrics,
        "views": VIEWS,
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `benches/duckdb/session.json` is what [`mirror_json`] writes: the mirror never
    /// reads a stale catalogue.
    #[test]
    fn duckdb_mirror_reads_the_current_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/duckdb/session.json");
        let current = mirror_json();
        if std::env::var_os("SNAPMETRICS_UPDATE_CATALOGUE").is_some() {
            std::fs::write(path, &current).expect("write session.json");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == current,
            "benches/duckdb/session.json is stale: run SNAPMETRICS_UPDATE_CATALOGUE=1 cargo test --lib catalogue, then python3 benches/duckdb/mirror.py"
        );
    }

    #[test]
    fn names_are_unique() {
        for (i, view) in VIEWS.iter().enumerate() {
            assert!(
                VIEWS[..i].iter().all(|v| v.name != view.name),
                "{} twice",
                view.name
            );
        }
    }
}
