//! The calendar tables (weeks, months) that give every metric the same boundaries.
//!
//! Boundaries are computed here, with chrono-tz, rather than in SQL so that a week across
//! a daylight-saving change is still local Monday to local Monday (167 or 169 hours).

use std::sync::Arc;

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::error::{Error, Result};

/// The local calendar a report is cut by: weeks and months from the first signup to
/// the one containing `as_of`.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: Tz,
    pub as_of: DateTime<Utc>,
    pub first_day: NaiveDate,
}

impl Calendar {
    pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&tz).date_naive()
    }

    /// The instant a local day starts (the first valid local time on a gap day).
    pub fn start_of(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        let midnight = day.and_hms_opt(0, 0, 0)?;
        match self.tz.from_local_datetime(&midnight) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            LocalResult::None => (1..=180)
                .find_map(|minutes| {
                    let t = midnight + chrono::TimeDelta::minutes(minutes);
                    self.tz.from_local_datetime(&t).earliest()
                })
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    fn complete(&self, end: NaiveDate) -> bool {
        self.start_of(end).is_some_and(|end| end <= self.as_of)
    }

    /// `calendar_weeks(week_start, week_index, is_complete)`.
    pub fn weeks(&self) -> Result<RecordBatch> {
        let monday = |d: NaiveDate| d - Days::new(u64::from(d.weekday().num_days_from_monday()));
        let last = monday(Self::local_date(self.tz, self.as_of));
        let mut starts = Vec::new();
        let mut week = monday(self.first_day);
        while week <= last {
            starts.push(week);
            week = week + Days::new(7);
        }
        let complete: BooleanArray = starts
            .iter()
            .map(|w| Some(self.complete(*w + Days::new(7))))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("week_start", DataType::Date32, false),
            Field::new("week_index", DataType::Int64, false),
            Field::new("is_complete", DataType::Boolean, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(dates(&starts)),
            Arc::new(Int64Array::from_iter_values(0..starts.len() as i64)),
            Arc::new(complete),
        ];
        calendar_batch(schema, columns)
    }

    /// `calendar_days(day, month_start, is_complete)`: every day of every calendar month,
    /// from the first of the first signup's month to the last of `as_of`'s month, so that
    /// a month's days can be counted (stickiness) as well as a date's activity.
    pub fn days(&self) -> Result<RecordBatch> {
        let first_of = |d: NaiveDate| d.with_day(1).unwrap_or(d);
        let first = first_of(self.first_day);
        let end = first_of(Self::local_date(self.tz, self.as_of)) + Months::new(1);
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d < end).collect();
        let month_starts: Vec<NaiveDate> = days.iter().map(|d| first_of(*d)).collect();
        let complete: BooleanArray = days
            .iter()
            .map(|d| Some(self.complete(*d + Days::new(1))))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Date32, false),
            Field::new("month_start", DataType::Date32, false),
            Field::new("is_complete", DataType::Boolean, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(dates(&days)),
            Arc::new(dates(&month_starts)),
            Arc::new(complete),
        ];
        calendar_batch(schema, columns)
    }

    /// `calendar_months(month_start, month, month_index, is_complete)`.
    pub fn months(&self) -> Result<RecordBatch> {
        let first_of = |d: NaiveDate| d.with_day(1).unwrap_or(d);
        let last = first_of(Self::local_date(self.tz, self.as_of));
        let mut starts = Vec::new();
        let mut month = first_of(self.first_day);
        while month <= last {
            starts.push(month);
            month = month + Months::new(1);
        }
        let labels: StringArray = starts
            .iter()
            .map(|m| Some(m.format("%Y-%m").to_string()))
            .collect();
        let complete: BooleanArray = starts
            .iter()
            .map(|m| Some(self.complete(*m + Months::new(1))))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("month_start", DataType::Date32, false),
            Field::new("month", DataType::Utf8, false),
            Field::new("month_index", DataType::Int64, false),
            Field::new("is_complete", DataType::Boolean, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(dates(&starts)),
            Arc::new(labels),
            Arc::new(Int64Array::from_iter_values(0..starts.len() as i64)),
            Arc::new(complete),
        ];
        calendar_batch(schema, columns)
    }
}

fn dates(days: &[NaiveDate]) -> Date32Array {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    days.iter()
        .map(|d| Some((*d - epoch).num_days() as i32))
        .collect()
}

fn calendar_batch(schema: Arc<Schema>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns)
        .map_err(|e| Error::query("building a calendar table", e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::time::parse_zone;
    fn calendar(tz: &str, as_of: &str, first: &str) -> Calendar {
        Calendar {
            tz: parse_zone(tz).expect("zone"),
            as_of: DateTime::parse_from_rfc3339(as_of)
                .expect("time")
                .with_timezone(&Utc),
            first_day: first.parse().expect("date"),
        }
    }

    #[test]
    fn week_end_is_local_monday_midnight() {
        // London: 2026-03-30 00:00 BST = 2026-03-29 23:00 UTC.
        let c = calendar("Europe/London", "2026-03-29T23:00:00Z", "2026-03-23");
        assert!(c.complete("2026-03-30".parse().expect("date")));
        let c = calendar("Europe/London", "2026-03-29T22:59:59Z", "2026-03-23");
        assert!(!c.complete("2026-03-30".parse().expect("date")));
    }
}
