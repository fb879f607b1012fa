//! A panic inside the Parquet decoder (seen with corrupt pages and footers) must become
//! an error that names the file, never a crash: decoding runs on a task of its own.

use std::any::Any;
use std::future::Future;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};

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

/// A query's batches, produced on a task of their own: a panic while decoding ends the
/// stream with an error instead of unwinding into the caller. Dropping the returned
/// stream stops the producer.
pub fn contained_stream(
    mut stream: SendableRecordBatchStream,
) -> impl Stream<Item = Result<RecordBatch>> + Send + Unpin {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let producer = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    let state = (rx, Some(AbortOnDrop(producer)));
    Box::pin(futures::stream::unfold(
        state,
        |(mut rx, producer)| async move {
            if let Some(item) = rx.recv().await {
                return Some((item, (rx, producer)));
            }
            let mut producer = producer?;
            match (&mut producer.0).await {
                Err(e) if e.is_panic() => Some((
                    Err(DataFusionError::Execution(format!(
                        "the Parquet reader failed on corrupt data ({})",
                        panic_message(e.into_panic())
                    ))),
                    (rx, None),
                )),
                _ => None,
            }
        },
    ))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
