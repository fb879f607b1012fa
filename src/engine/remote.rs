//! Where a session's queries run when not in this process: a Ballista scheduler, named
//! as `df://host:port`. The cluster itself is `crate::cluster` (`--features cluster`).

use crate::error::{Error, Result};

/// A scheduler to send plans to, as `df://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    host: String,
    port: u16,
}

impl ClusterUrl {
    /// Parses `df://host:port` (the port defaults to Ballista's 50050).
    pub fn parse(text: &str) -> Result<ClusterUrl> {
        let bad = |reason: &str| {
            Error::invalid(
                "cluster",
                format!("'{text}' {reason}; expected df://HOST:PORT"),
            )
        };
        let url = url::Url::parse(text).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if url.scheme() != "df" {
            return Err(bad("does not start with df://"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("has no host"))?;
        Ok(ClusterUrl {
            host: host.to_string(),
            port: url.port().unwrap_or(50050),
        })
    }

    /// `host:port`, to connect to.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl std::fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// Whether a failed cluster query failed because a process of the cluster went away
/// while it ran, by the words Ballista 55 and its transport use: the scheduler
/// cancelling the running jobs when an executor is lost (`crate::cluster`), a stage that
/// could not fetch its input from an executor, or the client cut off while it read the
/// results from one.
pub fn lost_executor(message: &str) -> bool {
    [
        "failed: Cancelled",
        "Error connecting to Ballista scheduler or executor",
        "h2 protocol error",
        "transport error",
        "broken pipe",
    ]
    .iter()
    .any(|words| message.contains(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ways_a_lost_executor_shows_are_recognised() {
        for message in [
            "Execution error: Job 038HZ0SX7T000 failed: Cancelled",
            "Execution error: Job 038HZ0R4CE000 failed: Job failed due to stage 14 failed: \
             Stage 14 has failed 1 times, most recent failure reason: \"Error connecting to \
             Ballista scheduler or executor at http://127.0.0.1:50951: tonic::transport::Error\"",
            "Arrow error: External error: code: 'Unknown error', message: \"h2 protocol error: \
             error reading a body from connection\", source: hyper::Error(Body, Error { kind: \
             Io(Custom { kind: BrokenPipe, error: \"stream closed because of a broken pipe\" }) })",
        ] {
            assert!(lost_executor(message), "{message}");
        }
        for message in [
            "Error during planning: table 'users' not found",
            "Parquet error: EOF: file size of 12 is less than footer",
        ] {
            assert!(!lost_executor(message), "{message}");
        }
    }

    #[test]
    fn a_cluster_is_df_host_port() {
        let url = ClusterUrl::parse("df://10.0.0.5:50070").expect("url");
        assert_eq!(url.address(), "10.0.0.5:50070");
        assert_eq!(url.to_string(), "df://10.0.0.5:50070");
        assert_eq!(
            ClusterUrl::parse("df://sched").expect("url").address(),
            "sched:50050"
        );
        for bad in ["http://h:1", "df://", "sched:50050", "df://h:99999"] {
            let err = ClusterUrl::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("expected df://HOST:PORT"), "{bad}: {err}");
        }
    }
}
