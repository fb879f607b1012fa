//! Path and query-string parsing: strict, so a typo is a 400, never another answer.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::error::ApiError;

/// A customer id: 1 to 19 ASCII digits that fit in a BIGINT. Anything else (signs,
/// spaces, decimals, overflow) is a malformed id, 400, rather than an unknown one.
pub(super) fn parse_id(raw: &str) -> std::result::Result<i64, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            "malformed_id",
            "a customer id is a non-negative integer (users.id), e.g. /customers/42",
        )
    };
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    raw.parse().map_err(|_| malformed())
}

/// A query string checked against the parameters an endpoint takes: unknown and
/// repeated parameters are refused, so a typo never silently changes an answer.
pub(super) struct QueryParams(HashMap<String, String>);

impl QueryParams {
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> std::result::Result<Self, ApiError> {
        let mut values = HashMap::new();
        let mut seen = HashSet::new();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "unknown query parameter '{}'; this endpoint takes: {}",
                        truncate(&name),
                        allowed.join(", ")
                    ),
                ));
            }
            if !seen.insert(name.to_string()) {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("query parameter '{name}' is given more than once"),
                ));
            }
            values.insert(name.into_owned(), value.into_owned());
        }
        Ok(QueryParams(values))
    }

    /// An empty value (`?from=`) reads as absent, as HTML forms send it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn bool(&self, name: &str) -> std::result::Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::bad_request(
                "invalid_query",
                format!("query parameter '{name}' must be true or false"),
            )),
        }
    }

    pub fn date(&self, name: &str) -> std::result::Result<Option<NaiveDate>, ApiError> {
        self.get(name)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("query parameter '{name}' must be a date YYYY-MM-DD"),
                    )
                })
            })
            .transpose()
    }
}

/// Echoed input is cut short, so an error body stays small whatever was sent.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
