//! Binary COPY values into Arrow arrays. The SELECT has cast every column to one wire
//! type per [`Decode`], so each decoder knows exactly what it reads; what the canonical
//! type cannot hold (±infinity, NaN, a numeric beyond 18 digits) is refused by name.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use tokio_postgres::types::{FromSql, Type};

use super::plan::{Decode, TablePlan};

/// PostgreSQL counts days and microseconds from 2000-01-01; Arrow from 1970-01-01.
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A value's bytes as they came, NULL aside: decoded here, not by the driver.
pub struct Raw<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Builders for one batch of a table's rows.
pub struct Batch {
    schema: SchemaRef,
    columns: Vec<(Decode, Box<dyn ArrayBuilder>)>,
    rows: usize,
}

impl Batch {
    pub fn new(plan: &TablePlan, capacity: usize) -> Batch {
        let columns = plan
            .columns
            .iter()
            .map(|c| (c.decode, builder(c.decode, capacity)))
            .collect();
        Batch {
            schema: plan.schema(),
            columns,
            rows: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row; the index of the column and what is wrong with its value, when
    /// one cannot be represented.
    pub fn push(&mut self, values: &[Option<Raw<'_>>]) -> Result<(), (usize, String)> {
        for (index, ((decode, builder), value)) in self.columns.iter_mut().zip(values).enumerate() {
            append(*decode, builder.as_mut(), value.as_ref().map(|r| r.0))
                .map_err(|problem| (index, problem))?;
        }
        self.rows += 1;
        Ok(())
    }

    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|(decode, builder)| finish(*decode, builder.as_mut()))
            .collect();
        self.rows = 0;
        // The builders produce exactly the schema's types, one array per field.
        RecordBatch::try_new(self.schema.clone(), arrays)
            .unwrap_or_else(|e| unreachable!("builders and schema disagree: {e}"))
    }
}

/// The row's key (its `id`) for messages, when the key column decodes as an integer.
pub fn key_of(values: &[Option<Raw<'_>>], key: Option<usize>) -> Option<i64> {
    let bytes = values.get(key?)?.as_ref()?.0;
    Some(i64::from_be_bytes(bytes.try_into().ok()?))
}

fn builder(decode: Decode, capacity: usize) -> Box<dyn ArrayBuilder> {
    match decode {
        Decode::Int64 => Box::new(Int64Builder::with_capacity(capacity)),
        Decode::Int32 => Box::new(Int32Builder::with_capacity(capacity)),
        Decode::Float64 => Box::new(Float64Builder::with_capacity(capacity)),
        Decode::Text => Box::new(StringBuilder::with_capacity(capacity, capacity * 16)),
        Decode::Boolean => Box::new(BooleanBuilder::with_capacity(capacity)),
        Decode::Date => Box::new(Date32Builder::with_capacity(capacity)),
        Decode::Timestamp => {
            Box::new(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"))
        }
        Decode::Amount => Box::new(
            Decimal128Builder::with_capacity(capacity)
                .with_precision_and_scale(18, 2)
                .unwrap_or_else(|e| unreachable!("Decimal128(18, 2) is valid: {e}")),
        ),
    }
}

fn downcast<B: 'static>(builder: &mut dyn ArrayBuilder) -> &mut B {
    builder
        .as_any_mut()
        .downcast_mut::<B>()
        .unwrap_or_else(|| unreachable!("each decoder owns the builder it made"))
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("{} bytes where {N} were expected", bytes.len()))
}

fn append(
    decode: Decode,
    builder: &mut dyn ArrayBuilder,
    value: Option<&[u8]>,
) -> Result<(), String> {
    macro_rules! put {
        ($builder:ty, $value:expr) => {{
            let b = downcast::<$builder>(builder);
            match value {
                None => b.append_null(),
                Some(bytes) => b.append_value($value(bytes)?),
            }
        }};
    }
    match decode {
        Decode::Int64 => put!(Int64Builder, |b| fixed::<8>(b).map(i64::from_be_bytes)),
        Decode::Int32 => put!(Int32Builder, |b| fixed::<4>(b).map(i32::from_be_bytes)),
        Decode::Float64 => put!(Float64Builder, |b| fixed::<8>(b).map(f64::from_be_bytes)),
        Decode::Boolean => put!(BooleanBuilder, |b: &[u8]| Ok::<_, String>(
            b.first() == Some(&1)
        )),
        Decode::Text => put!(StringBuilder, |b| std::str::from_utf8(b)
            .map_err(|e| format!("text that is not UTF-8 ({e})"))),
        Decode::Date => put!(Date32Builder, date),
        Decode::Timestamp => put!(TimestampMicrosecondBuilder, timestamp),
        Decode::Amount => put!(Decimal128Builder, amount),
    }
    Ok(())
}

fn finish(decode: Decode, builder: &mut dyn ArrayBuilder) -> ArrayRef {
    match decode {
        Decode::Int64 => Arc::new(downcast::<Int64Builder>(builder).finish()),
        Decode::Int32 => Arc::new(downcast::<Int32Builder>(builder).finish()),
        Decode::Float64 => Arc::new(downcast::<Float64Builder>(builder).finish()),
        Decode::Boolean => Arc::new(downcast::<BooleanBuilder>(builder).finish()),
        Decode::Text => Arc::new(downcast::<StringBuilder>(builder).finish()),
        Decode::Date => Arc::new(downcast::<Date32Builder>(builder).finish()),
        Decode::Timestamp => Arc::new(downcast::<TimestampMicrosecondBuilder>(builder).finish()),
        Decode::Amount => Arc::new(downcast::<Decimal128Builder>(builder).finish()),
    }
}

fn date(bytes: &[u8]) -> Result<i32, String> {
    match i32::from_be_bytes(fixed::<4>(bytes)?) {
        i32::MAX => Err("date 'infinity' has no date to export".to_string()),
        i32::MIN => Err("date '-infinity' has no date to export".to_string()),
        days => days
            .checked_add(EPOCH_DAYS)
            .ok_or_else(|| "a date out of range".to_string()),
    }
}

/// A `timestamptz` as Unix microseconds.
pub(super) fn timestamp(bytes: &[u8]) -> Result<i64, String> {
    match i64::from_be_bytes(fixed::<8>(bytes)?) {
        i64::MAX => Err("timestamp 'infinity' has no time to export".to_string()),
        i64::MIN => Err("timestamp '-infinity' has no time to export".to_string()),
        micros => micros
            .checked_add(EPOCH_MICROS)
            .ok_or_else(|| "a timestamp out of range".to_string()),
    }
}

/// A `numeric(18,2)` as hundredths: base-10000 digits, the first weighted by
/// 10000^weight, with a sign word that also marks NaN and the infinities.
fn amount(bytes: &[u8]) -> Result<i128, String> {
    let word = |i: usize| -> Result<u16, String> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]))
            .ok_or_else(|| "a truncated numeric".to_string())
    };
    let digits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("amount NaN is not a number".to_string()),
        0xD000 => return Err("amount 'Infinity' is not an amount".to_string()),
        0xF000 => return Err("amount '-Infinity' is not an amount".to_string()),
        other => return Err(format!("a numeric with sign word {other:#x}")),
    }
    let mut hundredths: i128 = 0;
    for i in 0..digits {
        let digit = i128::from(word(4 + i)?);
        // Digit i is worth 10000^(weight - i); in hundredths, 100 × that.
        let exponent = weight - i as i32;
        let value = match exponent {
            e if e >= 0 => 10_000i128
                .checked_pow(e as u32)
                .and_then(|p| digit.checked_mul(p))
                .and_then(|v| v.checked_mul(100)),
            -1 => Some(digit / 100),
            _ => Some(0),
        }
        .ok_or_else(|| "an amount beyond 18 digits".to_string())?;
        hundredths = hundredths
            .checked_add(value)
            .ok_or_else(|| "an amount beyond 18 digits".to_string())?;
    }
    if hundredths.abs() >= 10i128.pow(18) {
        return Err("an amount beyond 18 digits".to_string());
    }
    Ok(if sign == 0x4000 {
        -hundredths
    } else {
        hundredths
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary form PostgreSQL sends for a numeric.
    fn numeric(weight: i16, sign: u16, digits: &[u16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, 2] {
            bytes.extend_from_slice(&word.to_be_bytes());
        }
        for d in digits {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn numerics_become_hundredths() {
        // 12345.67 = 1·10000 + 2345 + 6700/10000
        assert_eq!(amount(&numeric(1, 0, &[1, 2345, 6700])), Ok(1_234_567));
        assert_eq!(amount(&numeric(0, 0x4000, &[3, 500])), Ok(-305));
        assert_eq!(amount(&numeric(-1, 0, &[5])), Ok(0));
        assert_eq!(amount(&numeric(-1, 0, &[500])), Ok(5));
        assert_eq!(amount(&numeric(0, 0, &[])), Ok(0));
        assert!(
            amount(&numeric(0, 0xC000, &[]))
                .expect_err("NaN")
                .contains("NaN")
        );
        assert!(amount(&numeric(0, 0xD000, &[])).is_err());
        assert!(
            amount(&numeric(5, 0, &[1]))
                .expect_err("big")
                .contains("18 digits")
        );
    }

    #[test]
    fn infinities_are_refused_and_epochs_shifted() {
        assert_eq!(timestamp(&0i64.to_be_bytes()), Ok(EPOCH_MICROS));
        assert!(timestamp(&i64::MAX.to_be_bytes()).is_err());
        assert!(timestamp(&i64::MIN.to_be_bytes()).is_err());
        assert_eq!(date(&(-10_957i32).to_be_bytes()), Ok(0));
        assert!(date(&i32::MAX.to_be_bytes()).is_err());
    }
}
