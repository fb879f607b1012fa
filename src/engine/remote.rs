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

#[cfg(test)]
mod tests {
    use super::*;

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
