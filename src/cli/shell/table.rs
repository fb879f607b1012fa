//! The shell's table: the first rows of a result, aligned, numbers to the right, wide
//! cells cut (with `…`) so that a row fits the terminal.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use unicode_width::UnicodeWidthStr;

use crate::error::{Error, Result};
use crate::output::printable;

/// The narrowest a column is cut to.
const MIN_WIDTH: usize = 5;

/// `batches` (of `schema`) as an aligned table at most `width` columns wide.
pub fn render(schema: &Schema, batches: &[RecordBatch], width: Option<usize>) -> Result<String> {
    let headers: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| printable(f.name()).into_owned())
        .collect();
    let right: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let options = FormatOptions::default().with_null("NULL");
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::internal("printing the result", e))?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| printable(&f.value(row).to_string()).into_owned())
                    .collect(),
            );
        }
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    if let Some(width) = width {
        fit(&mut widths, width.saturating_sub(3 * headers.len() + 1));
    }

    let rule: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .chain(["+\n".to_string()])
        .collect();
    let mut out = rule.clone();
    push_row(&mut out, &headers, &widths, &vec![false; widths.len()]);
    out.push_str(&rule);
    for row in &rows {
        push_row(&mut out, row, &widths, &right);
    }
    if !rows.is_empty() {
        out.push_str(&rule);
    }
    Ok(out)
}

/// Narrows the widest columns, one character at a time, until they sum to `budget` or
/// each is at [`MIN_WIDTH`] (or its own width, if narrower).
fn fit(widths: &mut [usize], budget: usize) {
    while widths.iter().sum::<usize>() > budget {
        let Some((widest, _)) = widths
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > MIN_WIDTH)
            .max_by_key(|(i, w)| (**w, usize::MAX - i))
        else {
            return;
        };
        widths[widest] -= 1;
    }
}

fn push_row(out: &mut String, cells: &[String], widths: &[usize], right: &[bool]) {
    for ((cell, width), right) in cells.iter().zip(widths).zip(right) {
        let cell = cut(cell, *width);
        let pad = " ".repeat(width.saturating_sub(cell.width()));
        if *right {
            out.push_str(&format!("| {pad}{cell} "));
        } else {
            out.push_str(&format!("| {cell}{pad} "));
        }
    }
    out.push_str("|\n");
}

/// `cell` cut to `width` display columns, ending in `…` when cut.
fn cut(cell: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if cell.width() <= width {
        return cell.into();
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in cell.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    kept.push('…');
    kept.into()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("note", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None])),
                Arc::new(StringArray::from(vec!["a rather long note", "é\nx"])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn aligns_numbers_right_and_shows_null() {
        let b = batch();
        let text = render(&b.schema(), std::slice::from_ref(&b), None).unwrap();
        assert_eq!(
            text,
            "+------+--------------------+\n\
             | id   | note               |\n\
             +------+--------------------+\n\
             |    7 | a rather long note |\n\
             | NULL | é\\nx               |\n\
             +------+--------------------+\n"
        );
    }

    #[test]
    fn cuts_the_widest_column_to_fit() {
        let b = batch();
        let text = render(&b.schema(), std::slice::from_ref(&b), Some(20)).unwrap();
        assert!(text.lines().all(|l| l.width() <= 20), "{text}");
        assert!(text.contains("| a rather… |"), "{text}");
    }
}
