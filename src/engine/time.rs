//! Time in the report's zone: the `local_time`, `local_date`, `local_week` and
//! `local_month` SQL functions, and the zone a session is opened in.
//!
//! They are computed here, with chrono-tz and integer arithmetic, rather than in SQL so
//! that a local day, week or month is the same wherever it is asked for, across
//! daylight-saving changes included, and costs one pass over the instants.

use std::cell::Cell;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Date32Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::error::{Error, Result};
use crate::source::schema::timestamp_utc;

/// Parses an IANA zone name (`--tz`).
pub fn parse_zone(name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::invalid(
            "--tz",
            format!("'{name}' is not an IANA time zone; use a name such as UTC or Europe/London"),
        )
    })
}

/// What a `local_*` function returns for a UTC instant in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LocalPart {
    /// `local_time`: the wall-clock time, as a zone-less timestamp.
    Time,
    /// `local_date`: the local calendar day.
    Date,
    /// `local_week`: the Monday that starts the local week.
    Week,
    /// `local_month`: the first day of the local month.
    Month,
}

/// `local_time(ts, zone)`, `local_date`, `local_week` and `local_month`: a UTC instant
/// read in an IANA zone. `local_time` gives the zone-less wall-clock time, so analysts
/// can `date_trunc` it; the other three give the `DATE` every metric groups by, computed
/// in one pass with integer arithmetic instead of `CAST(date_trunc(..) AS DATE)`, which
/// costs several seconds per 100 M events.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LocalTime {
    part: LocalPart,
    signature: Signature,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_HOUR: i64 = 3_600_000_000;
/// The instants chrono can represent (about 262,000 years either side of 1970).
const MIN_MICROS: i64 = DateTime::<Utc>::MIN_UTC.timestamp_micros();
const MAX_MICROS: i64 = DateTime::<Utc>::MAX_UTC.timestamp_micros();

impl LocalTime {
    /// Every `local_*` function, for registering with a session.
    pub fn udfs() -> Vec<ScalarUDF> {
        [
            LocalPart::Time,
            LocalPart::Date,
            LocalPart::Week,
            LocalPart::Month,
        ]
        .into_iter()
        .map(|part| {
            let signature = Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![timestamp_utc(), DataType::Utf8]),
                    TypeSignature::Exact(vec![timestamp_utc(), DataType::Utf8View]),
                ],
                Volatility::Immutable,
            );
            ScalarUDF::new_from_impl(LocalTime { part, signature })
        })
        .collect()
    }
}

impl ScalarUDFImpl for LocalTime {
    fn name(&self) -> &str {
        match self.part {
            LocalPart::Time => "local_time",
            LocalPart::Date => "local_date",
            LocalPart::Week => "local_week",
            LocalPart::Month => "local_month",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(match self.part {
            LocalPart::Time => DataType::Timestamp(TimeUnit::Microsecond, None),
            _ => DataType::Date32,
        })
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let name = self.name();
        let [value, zone] = args.args.as_slice() else {
            return exec_err!("{name} takes (timestamp, zone)");
        };
        let zone = match zone {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(z)) | ScalarValue::Utf8View(Some(z))) => z,
            _ => return exec_err!("{name}: the zone must be a constant IANA name"),
        };
        let Ok(tz) = zone.parse::<Tz>() else {
            return exec_err!("{name}: '{zone}' is not an IANA time zone");
        };
        let array = match value {
            ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(v, _)) => {
                let one = TimestampMicrosecondArray::from(vec![*v]);
                let local = self.convert(&one, tz);
                return ScalarValue::try_from_array(&local, 0).map(ColumnarValue::Scalar);
            }
            ColumnarValue::Array(array) => array,
            other => return exec_err!("{name} expects a timestamp, got {}", other.data_type()),
        };
        let Some(array) = array.as_any().downcast_ref::<TimestampMicrosecondArray>() else {
            return exec_err!("{name} expects Timestamp(µs, UTC)");
        };
        Ok(ColumnarValue::Array(self.convert(array, tz)))
    }
}

impl LocalTime {
    fn convert(&self, array: &TimestampMicrosecondArray, tz: Tz) -> ArrayRef {
        let local = LocalClock::new(tz);
        let day = |us: i64| local.micros(us).map(|l| l.div_euclid(MICROS_PER_DAY));
        match self.part {
            LocalPart::Time => {
                Arc::new(array.unary_opt::<_, TimestampMicrosecondType>(|us| local.micros(us)))
            }
            LocalPart::Date => Arc::new(
                array.unary_opt::<_, Date32Type>(|us| day(us).and_then(|d| i32::try_from(d).ok())),
            ),
            LocalPart::Week => Arc::new(array.unary_opt::<_, Date32Type>(|us| week_of(day(us)?))),
            LocalPart::Month => {
                let months = MonthCache::default();
                Arc::new(array.unary_opt::<_, Date32Type>(|us| months.first_day(day(us)?)))
            }
        }
    }
}

/// The Monday on or before `day` (days since the epoch).
fn week_of(day: i64) -> Option<i32> {
    // 1970-01-01 was a Thursday: three days after a Monday.
    i32::try_from(day - (day + 3).rem_euclid(7)).ok()
}

/// A zone's local dates, weeks and months for code that reads instants one at a time
/// (`engine::summary`): the values of `local_date`, `local_week` and `local_month`, by
/// the same arithmetic. Not `Sync`: one per thread.
pub(crate) struct LocalCalendar {
    clock: LocalClock,
    months: MonthCache,
}

impl LocalCalendar {
    pub(crate) fn new(tz: Tz) -> Self {
        LocalCalendar {
            clock: LocalClock::new(tz),
            months: MonthCache::default(),
        }
    }

    /// `local_date(us)`, in days since the epoch.
    pub(crate) fn date(&self, us: i64) -> Option<i32> {
        let day = self.clock.micros(us)?.div_euclid(MICROS_PER_DAY);
        i32::try_from(day).ok()
    }

    /// `local_week` of an instant whose `local_date` is `date`.
    pub(crate) fn week(date: i32) -> Option<i32> {
        week_of(i64::from(date))
    }

    /// `local_month` of an instant whose `local_date` is `date`.
    pub(crate) fn month(&self, date: i32) -> Option<i32> {
        self.months.first_day(i64::from(date))
    }
}

/// UTC instants to local wall-clock micros. A zone's offset is looked up once per UTC
/// hour, and for every instant of an hour in which the offset changes (no zone changes
/// twice within one hour); UTC is a no-op. Instants chrono cannot hold give `None`.
struct LocalClock {
    tz: Tz,
    hour: Cell<Option<(i64, i64)>>,
}

impl LocalClock {
    fn new(tz: Tz) -> Self {
        LocalClock {
            tz,
            hour: Cell::new(None),
        }
    }

    fn micros(&self, us: i64) -> Option<i64> {
        // NULL outside chrono's range, in every zone (and no overflow in the hour below).
        if !(MIN_MICROS..=MAX_MICROS).contains(&us) {
            return None;
        }
        if self.tz == Tz::UTC {
            return Some(us);
        }
        let hour = us.div_euclid(MICROS_PER_HOUR);
        let offset = match self.hour.get() {
            Some((h, offset)) if h == hour => offset,
            _ => {
                let start = hour * MICROS_PER_HOUR;
                let first = self.offset(start)?;
                if self.offset(start + MICROS_PER_HOUR - 1)? == first {
                    self.hour.set(Some((hour, first)));
                    first
                } else {
                    self.offset(us)?
                }
            }
        };
        us.checked_add(offset)
    }

    fn offset(&self, us: i64) -> Option<i64> {
        let at = DateTime::from_timestamp_micros(us)?;
        let offset = self.tz.offset_from_utc_datetime(&at.naive_utc());
        Some(i64::from(chrono::Offset::fix(&offset).local_minus_utc()) * 1_000_000)
    }
}

/// Days since the epoch to the first day of their month, remembering the last month seen
/// (events arrive mostly in time order).
#[derive(Default)]
struct MonthCache {
    month: Cell<Option<(i64, i64, i32)>>,
}

impl MonthCache {
    fn first_day(&self, day: i64) -> Option<i32> {
        if let Some((start, end, first)) = self.month.get()
            && (start..end).contains(&day)
        {
            return Some(first);
        }
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
        let date = epoch.checked_add_signed(chrono::TimeDelta::try_days(day)?)?;
        let first = date.with_day(1)?;
        let start = (first - epoch).num_days();
        // The last month chrono can hold has no next month: remember just this day.
        let end = first
            .checked_add_months(Months::new(1))
            .map_or(day + 1, |next| (next - epoch).num_days());
        let first = i32::try_from(start).ok()?;
        self.month.set(Some((start, end, first)));
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Days, Offset};
    use datafusion::arrow::array::Date32Array;
    use datafusion::arrow::datatypes::Field;

    use super::*;

    const ZONES: [&str; 7] = [
        "UTC",
        "Europe/London",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
        "Pacific/Apia",
        "America/Santiago",
    ];

    /// What the four functions give by chrono itself, in `local_*` order (micros for
    /// `local_time`, days since the epoch for the dates); `None` outside chrono's range.
    fn expected(us: i64, tz: Tz) -> [Option<i64>; 4] {
        let Some(at) = DateTime::from_timestamp_micros(us) else {
            return [None; 4];
        };
        let local = at.with_timezone(&tz).naive_local();
        let date = local.date();
        let monday = date - Days::new(u64::from(date.weekday().num_days_from_monday()));
        let first = date.with_day(1).expect("first of the month");
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        let days = |d: NaiveDate| Some((d - epoch).num_days());
        [
            Some(local.and_utc().timestamp_micros()),
            days(date),
            days(monday),
            days(first),
        ]
    }

    fn invoke(udf: &ScalarUDF, value: ColumnarValue, zone: &str, rows: usize) -> ColumnarValue {
        let arg_types = [timestamp_utc(), DataType::Utf8];
        let return_type = udf.return_type(&arg_types).expect("return type");
        let args = ScalarFunctionArgs {
            args: vec![value, ColumnarValue::Scalar(ScalarValue::from(zone))],
            arg_fields: vec![
                Arc::new(Field::new("ts", timestamp_utc(), true)),
                Arc::new(Field::new("zone", DataType::Utf8, false)),
            ],
            number_rows: rows,
            return_field: Arc::new(Field::new(udf.name(), return_type, true)),
            config_options: Arc::new(datafusion::common::config::ConfigOptions::default()),
        };
        udf.invoke_with_args(args).expect("invokes")
    }

    /// The values of a `local_*` result as i64 (NULL as `None`).
    fn values(result: &ArrayRef) -> Vec<Option<i64>> {
        if let Some(times) = result.as_any().downcast_ref::<TimestampMicrosecondArray>() {
            assert_eq!(
                result.data_type(),
                &DataType::Timestamp(TimeUnit::Microsecond, None)
            );
            return times.iter().collect();
        }
        let dates = result
            .as_any()
            .downcast_ref::<Date32Array>()
            .expect("Date32 result");
        dates.iter().map(|d| d.map(i64::from)).collect()
    }

    fn micros(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .timestamp_micros()
    }

    /// Every instant `tz` changes its offset (in chrono-tz) from 1800 to 2040, to the
    /// microsecond: found day by day, then by bisection.
    fn transitions(tz: Tz) -> Vec<i64> {
        let offset = |us: i64| {
            let at = DateTime::from_timestamp_micros(us).expect("in range");
            tz.offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc()
        };
        let mut found = Vec::new();
        let mut day = micros("1800-01-01T00:00:00Z");
        let end = micros("2040-01-01T00:00:00Z");
        while day < end {
            let next = day + MICROS_PER_DAY;
            if offset(day) != offset(next) {
                // offset(lo) is the old offset, offset(hi) the new one.
                let (mut lo, mut hi) = (day, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset(mid) == offset(day) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                found.push(hi);
            }
            day = next;
        }
        found
    }

    /// The sweep, each transition of `tz` and the microseconds either side, and
    /// instants before 1970 and at the ends of chrono's range.
    fn instants(tz: Tz) -> Vec<i64> {
        let mut all = Vec::new();
        let step = 37 * 60 * 1_000_000;
        let (start, end) = (
            micros("2024-01-01T00:00:00Z"),
            micros("2027-01-01T00:00:00Z"),
        );
        all.extend((start..end).step_by(step));
        // Days, weeks and months before the epoch (negative micros and day numbers).
        let (start, end) = (
            micros("1968-12-01T00:00:00Z"),
            micros("1970-02-01T00:00:00Z"),
        );
        all.extend((start..end).step_by(97 * 60 * 1_000_000));
        for t in transitions(tz) {
            all.extend([t - 1, t, t + 1]);
        }
        all.extend([
            -1,
            0,
            1,
            -MICROS_PER_DAY - 1,
            -MICROS_PER_DAY,
            micros("1969-12-28T23:59:59.999999Z"),
            micros("1900-01-01T00:00:00Z"),
            micros("1800-02-28T12:00:00Z"),
            micros("0001-01-01T00:00:00Z"),
            micros("0000-03-01T00:00:00Z"),
            // A week inside chrono's range, so that the Monday before is in it too.
            DateTime::<Utc>::MIN_UTC.timestamp_micros() + 8 * MICROS_PER_DAY,
            DateTime::<Utc>::MAX_UTC.timestamp_micros() - 8 * MICROS_PER_DAY,
        ]);
        all
    }

    /// Instants no chrono date can hold: every function gives NULL.
    fn out_of_range() -> Vec<i64> {
        vec![
            i64::MIN,
            i64::MIN + 1,
            i64::MIN + MICROS_PER_HOUR,
            DateTime::<Utc>::MIN_UTC.timestamp_micros() - 1,
            DateTime::<Utc>::MAX_UTC.timestamp_micros() + 1,
            i64::MAX - MICROS_PER_HOUR,
            i64::MAX - 1,
            i64::MAX,
        ]
    }

    /// The array path against chrono, in time order (the caches hit), in a scrambled
    /// order (they miss), and with NULLs and out-of-range instants mixed in.
    #[test]
    fn local_functions_match_chrono() {
        let udfs = LocalTime::udfs();
        let names: Vec<&str> = udfs.iter().map(|u| u.name()).collect();
        assert_eq!(
            names,
            ["local_time", "local_date", "local_week", "local_month"]
        );
        for zone in ZONES {
            let tz: Tz = zone.parse().expect("zone");
            let mut sorted = instants(tz);
            sorted.sort_unstable();
            // A fixed scramble: a stride coprime with the length.
            let n = sorted.len();
            let stride = (n / 3..).find(|s| gcd(*s, n) == 1).expect("stride");
            let scrambled: Vec<i64> = (0..n).map(|i| sorted[i * stride % n]).collect();
            let mut mixed: Vec<Option<i64>> = Vec::new();
            for (i, us) in scrambled.iter().enumerate() {
                mixed.push(Some(*us));
                if i % 101 == 0 {
                    mixed.push(None);
                    let extremes = out_of_range();
                    mixed.push(Some(extremes[i / 101 % extremes.len()]));
                }
            }
            let orders = [sorted.iter().copied().map(Some).collect::<Vec<_>>(), mixed];
            for input in orders {
                for chunk in input.chunks(8192) {
                    let array =
                        TimestampMicrosecondArray::from(chunk.to_vec()).with_timezone("UTC");
                    let array: ArrayRef = Arc::new(array);
                    for (f, udf) in udfs.iter().enumerate() {
                        let result =
                            invoke(udf, ColumnarValue::Array(array.clone()), zone, chunk.len())
                                .into_array(chunk.len())
                                .expect("array");
                        for (us, got) in chunk.iter().zip(values(&result)) {
                            let want = us.and_then(|us| expected(us, tz)[f]);
                            assert_eq!(got, want, "{}({us:?}, '{zone}')", udf.name());
                        }
                    }
                }
            }
        }
    }

    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }

    /// The scalar path (a literal timestamp), including NULL and out-of-range instants.
    #[test]
    fn local_functions_of_a_literal() {
        let udfs = LocalTime::udfs();
        for zone in ZONES {
            let tz: Tz = zone.parse().expect("zone");
            let some = [
                micros("2024-03-31T00:59:59.999999Z"),
                micros("2026-10-25T01:00:00Z"),
                micros("2011-12-30T09:59:59.999999Z"),
                micros("2011-12-30T10:00:00Z"),
                micros("1969-12-31T23:59:59.999999Z"),
            ];
            let cases = some
                .into_iter()
                .chain(out_of_range())
                .map(Some)
                .chain([None]);
            for us in cases {
                for (f, udf) in udfs.iter().enumerate() {
                    let literal = ScalarValue::TimestampMicrosecond(us, Some("UTC".into()));
                    let ColumnarValue::Scalar(got) =
                        invoke(udf, ColumnarValue::Scalar(literal), zone, 1)
                    else {
                        panic!("{}: a literal gives a scalar", udf.name());
                    };
                    let want = us.and_then(|us| expected(us, tz)[f]);
                    let want = match f {
                        0 => ScalarValue::TimestampMicrosecond(want, None),
                        _ => ScalarValue::Date32(want.map(|d| i32::try_from(d).expect("day"))),
                    };
                    assert_eq!(got, want, "{}({us:?}, '{zone}')", udf.name());
                }
            }
        }
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
