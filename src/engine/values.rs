//! Reading a query's result back into Rust values: a column by name, as the array type
//! the query produces. Anything else is a bug in the query, so it is an internal error
//! naming the query and the column, never a panic and never "bad input".

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};

use crate::error::{Error, Result};

/// Column `name` of `batch`, a result of `query`.
pub(crate) fn column<'b>(batch: &'b RecordBatch, query: &str, name: &str) -> Result<&'b ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::internal(query, format!("the result has no column '{name}'")))
}

/// Column `name` of `batch` as the array type `cast` picks (`as_primitive_opt`, say).
pub(crate) fn typed<'b, T: ?Sized>(
    batch: &'b RecordBatch,
    query: &str,
    name: &str,
    cast: impl FnOnce(&'b dyn Array) -> Option<&'b T>,
) -> Result<&'b T> {
    let array = column(batch, query, name)?;
    cast(array.as_ref()).ok_or_else(|| {
        Error::internal(
            query,
            format!("column '{name}' has unexpected type {}", array.data_type()),
        )
    })
}
