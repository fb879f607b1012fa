//! The library's one error type: every variant names the thing the user must look at
//! (store, snapshot, table, file, column) so a message alone is enough to act on, and
//! has a [`ErrorKind`] that decides the exit code and the HTTP status in one place.

use datafusion::error::DataFusionError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid store '{location}': {reason}")]
    InvalidStore { location: String, reason: String },

    #[error("store '{store}': {source}")]
    Store {
        store: String,
        #[source]
        source: object_store::Error,
    },

    #[error(
        "store '{store}' has no complete snapshot (one with a _SUCCESS file); run `snapmetrics snapshots` to see what is there"
    )]
    NoCompleteSnapshot { store: String },

    #[error(
        "snapshot '{id}' not found in store '{store}'; run `snapmetrics snapshots` to list the snapshots"
    )]
    SnapshotNotFound { store: String, id: String },

    #[error(
        "snapshot '{id}' is incomplete (no _SUCCESS file): it may still be being written; pass --allow-incomplete to read it anyway"
    )]
    IncompleteSnapshot { id: String },

    #[error("snapshot '{snapshot}': invalid _manifest.json: {reason}")]
    Manifest { snapshot: String, reason: String },

    #[error("snapshot '{snapshot}': {reason}")]
    Layout { snapshot: String, reason: String },

    #[error(
        "snapshot '{snapshot}': required table '{table}' is missing (expected '{table}/' or '{table}.parquet')"
    )]
    MissingTable { snapshot: String, table: String },

    #[error("snapshot '{snapshot}', table '{table}', file '{file}': column '{column}' {problem}")]
    Column {
        snapshot: String,
        table: String,
        file: String,
        column: String,
        problem: String,
    },

    #[error("snapshot '{snapshot}', table '{table}', file '{file}': {reason}")]
    File {
        snapshot: String,
        table: String,
        file: String,
        reason: String,
    },

    #[error(
        "refused: {statement} is not allowed; snapmetrics SQL is read-only (SELECT, EXPLAIN, SHOW, DESCRIBE)"
    )]
    ReadOnly { statement: String },

    #[error("invalid {what}: {reason}")]
    InvalidArgument { what: String, reason: String },

    /// A published report that cannot be read back (verify, diff).
    #[error("report '{report}': {reason}")]
    Report { report: String, reason: String },

    #[error(
        "snapshot '{snapshot}': no customer with {key} (unknown, or excluded by the data-quality checks); list valid ids with `snapmetrics sql \"SELECT id FROM users_clean\"` and tokens with `snapmetrics sql \"SELECT tokenized_user_id FROM l0_user_tokenization_clean\"`"
    )]
    CustomerNotFound { snapshot: String, key: String },

    #[error(
        "out of memory: {context} needs more than {limit} even after spilling to disk; raise --memory-limit ({detail})"
    )]
    Memory {
        context: String,
        limit: String,
        detail: String,
    },

    /// A statement the user wrote that cannot be planned: a syntax error, an unknown
    /// table or column, several statements at once.
    #[error("{context}: {source}")]
    Statement {
        context: String,
        #[source]
        source: Box<DataFusionError>,
    },

    #[error("{context}: {source}")]
    Query {
        context: String,
        #[source]
        source: Box<DataFusionError>,
    },

    /// The PostgreSQL database an export reads: unreachable, refusing the login, or
    /// holding what a snapshot cannot represent. Named without its password.
    #[error("database '{database}': {reason}")]
    Database { database: String, reason: String },

    /// A Ballista cluster that cannot be reached, or a scheduler or executor that cannot
    /// run.
    #[error("{cluster}: {reason}")]
    Cluster { cluster: String, reason: String },

    /// A query on a cluster stopped because an executor was lost (killed, or cut off)
    /// while it ran; nothing of it was written.
    #[error(
        "{cluster}: {context} stopped: an executor was lost during the query ({reason}); nothing was written; run it again once the cluster has its executors back"
    )]
    ClusterLost {
        cluster: String,
        context: String,
        reason: String,
    },

    /// The connection to the database broke, or the server ended it, mid-export.
    #[error("database '{database}': the connection was lost: {reason}")]
    DatabaseLost { database: String, reason: String },

    /// A failure that is no one's input: formatting a result the engine computed, say.
    #[error("{context}: {reason}")]
    Internal { context: String, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What went wrong, as far as the caller must act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An argument or a statement the caller gave is wrong: the caller can fix it.
    BadArgument,
    /// The store, the snapshot or one of its files is wrong: whoever runs the tool, or
    /// the exporter, must fix it. Bad input for a command, a server fault for an API.
    BadSnapshot,
    /// A named thing (snapshot, customer) does not exist.
    NotFound,
    /// The work did not fit in its memory or time budget.
    ResourceLimit,
    /// Reading or writing a local file or stream failed (a full disk, say).
    Io,
    /// Anything else: a bug, or a failure inside the engine.
    Internal,
}

impl ErrorKind {
    /// `2` for input the user can correct, `1` for everything else.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::BadArgument | ErrorKind::BadSnapshot | ErrorKind::NotFound => 2,
            ErrorKind::ResourceLimit | ErrorKind::Io | ErrorKind::Internal => 1,
        }
    }

    /// The HTTP status the API answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadArgument => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::ResourceLimit => 503,
            ErrorKind::BadSnapshot | ErrorKind::Io | ErrorKind::Internal => 500,
        }
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidStore { .. }
            | Error::Store { .. }
            | Error::IncompleteSnapshot { .. }
            | Error::Manifest { .. }
            | Error::Layout { .. }
            | Error::MissingTable { .. }
            | Error::Column { .. }
            | Error::File { .. } => ErrorKind::BadSnapshot,
            Error::ReadOnly { .. }
            | Error::Statement { .. }
            | Error::InvalidArgument { .. }
            | Error::Report { .. }
            | Error::Database { .. }
            | Error::Cluster { .. } => ErrorKind::BadArgument,
            Error::NoCompleteSnapshot { .. }
            | Error::SnapshotNotFound { .. }
            | Error::CustomerNotFound { .. } => ErrorKind::NotFound,
            Error::Memory { .. } => ErrorKind::ResourceLimit,
            Error::Query { source, .. } => match source.find_root() {
                DataFusionError::ResourcesExhausted(_) => ErrorKind::ResourceLimit,
                _ => ErrorKind::Internal,
            },
            // A place the user named that cannot be written is theirs to change.
            Error::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                ErrorKind::BadArgument
            }
            Error::Io { .. } | Error::DatabaseLost { .. } | Error::ClusterLost { .. } => {
                ErrorKind::Io
            }
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// A closed pipe is how a reader such as `head` says it has seen enough: not a
    /// failure to report.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub(crate) fn query(context: impl Into<String>, source: DataFusionError) -> Self {
        Error::Query {
            context: context.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(context: impl Into<String>, reason: impl ToString) -> Self {
        Error::Internal {
            context: context.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
}
