//! A panic inside the Parquet decoder (seen with corrupt pages and footers) must become
//! an error that names the file, never a crash: decoding runs on a task of its own.

use std::any::Any;
use std::future::Future;

use datafusion::error::{DataFusionError, Result};

/// Runs `work` on its own task and turns a panic in it into an error.
pub async fn contained<T: Send + 'static>(
    work: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(DataFusionError::Execution(format!(
            "the Parquet reader failed on corrupt data ({})",
            panic_message(e.into_panic())
        ))),
        Err(e) => Err(DataFusionError::Execution(e.to_string())),
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}
