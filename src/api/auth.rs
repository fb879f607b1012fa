//! Who may call the data endpoints: bearer tokens, kept only as digests, or an open
//! loopback server.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::error::{Error, Result};

/// Environment variable with the comma-separated bearer tokens that may read the API.
pub const TOKENS_ENV: &str = "SNAPMETRICS_API_TOKENS";
/// Environment variable with the tokens that may also read PII (`?include_pii=true`).
pub const PII_TOKENS_ENV: &str = "SNAPMETRICS_API_PII_TOKENS";
/// Shorter tokens are refused at start: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    Read,
    Pii,
}

/// Who may call the data endpoints.
#[derive(Clone)]
pub enum Auth {
    /// `--no-auth` on a loopback address: every caller gets `grant`.
    Open { grant: Grant },
    /// `Authorization: Bearer <token>`; tokens are kept only as SHA-256 digests.
    Bearer { tokens: Vec<([u8; 32], Grant)> },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Open { grant } => write!(f, "Auth::Open({grant:?})"),
            Auth::Bearer { tokens } => write!(f, "Auth::Bearer({} tokens)", tokens.len()),
        }
    }
}

impl Auth {
    /// The start-up rules: tokens are required, unless `no_auth` and `bind` is loopback;
    /// `read` and `pii` are the comma-separated values of [`TOKENS_ENV`] and
    /// [`PII_TOKENS_ENV`]. `open_pii` grants PII to everyone under `no_auth`.
    pub fn configure(
        read: Option<&str>,
        pii: Option<&str>,
        no_auth: bool,
        open_pii: bool,
        bind: SocketAddr,
    ) -> Result<Auth> {
        let read = split_tokens(TOKENS_ENV, read)?;
        let pii = split_tokens(PII_TOKENS_ENV, pii)?;
        if no_auth {
            if !bind.ip().is_loopback() {
                return Err(Error::invalid(
                    "--no-auth",
                    format!(
                        "allowed only on a loopback address (127.0.0.1 or ::1), not {bind}; set {TOKENS_ENV} to serve other hosts"
                    ),
                ));
            }
            if !read.is_empty() || !pii.is_empty() {
                return Err(Error::invalid(
                    "--no-auth",
                    format!(
                        "{TOKENS_ENV} or {PII_TOKENS_ENV} is set too; unset them or drop --no-auth"
                    ),
                ));
            }
            let grant = if open_pii { Grant::Pii } else { Grant::Read };
            return Ok(Auth::Open { grant });
        }
        if read.is_empty() && pii.is_empty() {
            return Err(Error::invalid(
                TOKENS_ENV,
                format!(
                    "the API needs at least one bearer token: set {TOKENS_ENV}=token1,token2 (and {PII_TOKENS_ENV} for tokens that may read PII), or pass --no-auth on a loopback address"
                ),
            ));
        }
        let tokens = read
            .iter()
            .map(|t| (digest(t), Grant::Read))
            .chain(pii.iter().map(|t| (digest(t), Grant::Pii)))
            .collect();
        Ok(Auth::Bearer { tokens })
    }

    /// Whether any caller can be granted PII: then the session must include it.
    pub fn grants_pii(&self) -> bool {
        match self {
            Auth::Open { grant } => *grant == Grant::Pii,
            Auth::Bearer { tokens } => tokens.iter().any(|(_, g)| *g == Grant::Pii),
        }
    }

    pub(super) fn grant(&self, headers: &HeaderMap) -> std::result::Result<Grant, ApiError> {
        let tokens = match self {
            Auth::Open { grant } => return Ok(*grant),
            Auth::Bearer { tokens } => tokens,
        };
        let unauthorized =
            |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <token> header"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))?;
        let presented = digest(token);
        // Every digest is compared, and the best grant kept, so a token listed in both
        // variables reads PII and the time taken does not depend on which one matched.
        tokens
            .iter()
            .filter(|(known, _)| *known == presented)
            .map(|(_, grant)| *grant)
            .max()
            .ok_or_else(|| unauthorized("invalid bearer token"))
    }
}

fn split_tokens(variable: &str, value: Option<&str>) -> Result<Vec<String>> {
    let tokens: Vec<String> = value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    for (n, token) in tokens.iter().enumerate() {
        if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                variable,
                format!(
                    "token #{} must be at least {MIN_TOKEN_LEN} visible ASCII characters without spaces",
                    n + 1
                ),
            ));
        }
    }
    Ok(tokens)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
