//! A panic inside the Parquet decoder (seen with corrupt pages and footers) must become
//! an error that names the file, never a crash: decoding runs on a task of its own.

use std::any::Any;
use std::future::Future;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};

/// Runs `work` on its own task and turns a panic in it into an error. Dropping the
/// returned future (a cancelled query, a timed-out request) aborts the task: a
/// `JoinHandle` alone would let the work run on to its end.
pub async fn contained<T: Send + 'static>(
    work: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let mut task = AbortOnDrop(tokio::spawn(work));
    match (&mut task.0).await {
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

/// A task that is aborted when its handle is dropped unfinished.
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn dropping_contained_work_stops_it() {
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let work = contained(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            flag.store(true, Ordering::SeqCst);
            Ok(())
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(20), work)
                .await
                .is_err()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !finished.load(Ordering::SeqCst),
            "the work ran on after its caller left"
        );
    }
}
