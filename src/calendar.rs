//! Time in the report's zone: the `local_time` SQL function and the calendar tables
//! (weeks, months) that give every metric the same boundaries.
//!
//! Boundaries are computed here, with chrono-tz, rather than in SQL so that a week across
//! a daylight-saving change is still local Monday to local Monday (167 or 169 hours).

use std::sync::Arc;

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::error::{Error, Result};
use crate::schema::timestamp_utc;

/// Parses an IANA zone name (`--tz`).
pub fn parse_zone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::invalid(
            "--tz",
            format!("'{name}' is not an IANA time zone; use a name such as UTC or Europe/London"),
        )
    })
}

/// `local_time(ts, zone)`: the wall-clock time in `zone` of a UTC instant, as a
/// zone-less timestamp, so `date_trunc` and `CAST(.. AS DATE)` work in local time.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LocalTime {
    signature: Signature,
}

impl LocalTime {
    pub fn udf() -> ScalarUDF {
        let signature = Signature::one_of(
            vec![
                TypeSignature::Exact(vec![timestamp_utc(), DataType::Utf8]),
                TypeSignature::Exact(vec![timestamp_utc(), DataType::Utf8View]),
            ],
            Volatility::Immutable,
        );
        ScalarUDF::new_from_impl(LocalTime { signature })
    }
}

impl ScalarUDFImpl for LocalTime {
    fn name(&self) -> &str {
        "local_time"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let [value, zone] = args.args.as_slice() else {
            return exec_err!("local_time takes (timestamp, zone)");
        };
        let zone = match zone {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(z)) | ScalarValue::Utf8View(Some(z))) => z,
            _ => return exec_err!("local_time: the zone must be a constant IANA name"),
        };
        let Ok(tz) = zone.parse::<Tz>() else {
            return exec_err!("local_time: '{zone}' is not an IANA time zone");
        };
        let shift = move |us: i64| -> Option<i64> {
            let at = DateTime::from_timestamp_micros(us)?;
            let offset = tz.offset_from_utc_datetime(&at.naive_utc());
            let seconds = chrono::Offset::fix(&offset).local_minus_utc();
            us.checked_add(i64::from(seconds) * 1_000_000)
        };
        let utc = tz == Tz::UTC;
        match value {
            ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(v, _)) => Ok(
                ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(v.and_then(shift), None)),
            ),
            ColumnarValue::Array(array) => {
                let Some(array) = array.as_any().downcast_ref::<TimestampMicrosecondArray>() else {
                    return exec_err!("local_time expects Timestamp(µs, UTC)");
                };
                let local = if utc {
                    array.clone().with_timezone_opt(None::<String>)
                } else {
                    array.unary_opt::<_, datafusion::arrow::datatypes::TimestampMicrosecondType>(
                        shift,
                    )
                };
                Ok(ColumnarValue::Array(Arc::new(local) as ArrayRef))
            }
            other => exec_err!("local_time expects a timestamp, got {}", other.data_type()),
        }
    }
}

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
    pub fn weeks(&self) -> Result<MemTable> {
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
        mem_table(schema, columns)
    }

    /// `calendar_months(month_start, month, is_complete)`.
    pub fn months(&self) -> Result<MemTable> {
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
            Field::new("is_complete", DataType::Boolean, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(dates(&starts)),
            Arc::new(labels),
            Arc::new(complete),
        ];
        mem_table(schema, columns)
    }
}

/// `onboarding_steps(step)`: 1 to the greatest `total_steps`, so every step is reported.
pub fn steps(max_steps: i32) -> Result<MemTable> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "step",
        DataType::Int32,
        false,
    )]));
    mem_table(
        schema,
        vec![Arc::new(Int32Array::from_iter_values(1..=max_steps.max(0)))],
    )
}

/// `engagement_event_types(event_type)`: the `--event-types` set, bound as data.
pub fn event_types(types: &[String]) -> Result<MemTable> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "event_type",
        DataType::Utf8,
        false,
    )]));
    let values: StringArray = types.iter().map(|t| Some(t.as_str())).collect();
    mem_table(schema, vec![Arc::new(values)])
}

fn dates(days: &[NaiveDate]) -> Date32Array {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    days.iter()
        .map(|d| Some((*d - epoch).num_days() as i32))
        .collect()
}

fn mem_table(schema: Arc<Schema>, columns: Vec<ArrayRef>) -> Result<MemTable> {
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::query("building a calendar table", e.into()))?;
    MemTable::try_new(schema, vec![vec![batch]])
        .map_err(|e| Error::query("building a calendar table", e))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn unknown_zone_is_a_clear_error() {
        let err = parse_zone("Mars/Olympus")
            .expect_err("not a zone")
            .to_string();
        assert!(
            err.contains("Mars/Olympus") && err.contains("IANA"),
            "{err}"
        );
    }
}
