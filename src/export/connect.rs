//! Which PostgreSQL database to read, and how to reach it: the connection string, then
//! the `PG*` variables and the password file for whatever it leaves out, as libpq does.
//! The password is held only inside the driver's `Config`; nothing here displays it.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

use crate::error::{Error, Result};

/// A database to export from, with a name for messages that carries no secret.
#[derive(Clone)]
pub struct Database {
    config: Config,
    name: String,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .finish()
    }
}

impl Database {
    /// Parses `source` (`postgres://user@host:port/db?…` or `host=… dbname=…`), then fills
    /// what it leaves unset from `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD`,
    /// `PGCONNECT_TIMEOUT` and the password file (`PGPASSFILE`, else `~/.pgpass`).
    pub fn parse(source: &str) -> Result<Database> {
        Database::parse_with(source, &|name| std::env::var(name).ok())
    }

    fn parse_with(source: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Database> {
        let mut config: Config = source.parse().map_err(|e| Error::Database {
            database: redacted(source),
            reason: match source.contains("sslmode=verify") {
                true => "sslmode verify-ca and verify-full are not supported: use \
                         sslmode=require (encrypted; the certificate is not checked)"
                    .to_string(),
                false => format!("not a PostgreSQL connection string ({e})"),
            },
        })?;
        if config.get_hosts().is_empty() {
            config.host(env("PGHOST").as_deref().unwrap_or("localhost"));
        }
        if config.get_ports().is_empty()
            && let Some(port) = env("PGPORT")
        {
            let port = port.parse().map_err(|_| Error::Database {
                database: redacted(source),
                reason: format!("PGPORT '{port}' is not a port number"),
            })?;
            config.port(port);
        }
        if config.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".to_string());
            config.user(&user);
        }
        if config.get_dbname().is_none()
            && let Some(db) = env("PGDATABASE").or_else(|| config.get_user().map(str::to_string))
        {
            config.dbname(&db);
        }
        if config.get_connect_timeout().is_none() {
            let seconds = env("PGCONNECT_TIMEOUT")
                .and_then(|s| s.parse().ok())
                .unwrap_or(10);
            config.connect_timeout(Duration::from_secs(seconds));
        }
        let mut database = Database {
            name: String::new(),
            config,
        };
        database.name = database.describe();
        if database.config.get_password().is_none() {
            if let Some(password) = env("PGPASSWORD") {
                database.config.password(password);
            } else if let Some(password) = database.password_from_file(env) {
                database.config.password(password);
            }
        }
        Ok(database)
    }

    /// `user@host:port/dbname`: what a message names the database by.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        let host = self.host();
        let port = self.port();
        let user = self.config.get_user().unwrap_or("");
        let db = self.config.get_dbname().unwrap_or("");
        format!("{user}@{host}:{port}/{db}")
    }

    fn host(&self) -> String {
        match self.config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_string(),
        }
    }

    fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    /// The first matching line of the password file: `host:port:db:user:password`, each
    /// field possibly `*`, with `\:` and `\\` escaped.
    fn password_from_file(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<Vec<u8>> {
        let path = env("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".pgpass")))?;
        let text = std::fs::read_to_string(path).ok()?;
        let wanted = [
            self.host(),
            self.port().to_string(),
            self.config.get_dbname().unwrap_or("").to_string(),
            self.config.get_user().unwrap_or("").to_string(),
        ];
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(pgpass_fields)
            .find(|fields| {
                fields.len() == 5
                    && fields[..4]
                        .iter()
                        .zip(&wanted)
                        .all(|(field, want)| field == "*" || field == want)
            })
            .map(|fields| fields[4].clone().into_bytes())
    }

    /// Connects, over TLS unless `sslmode=disable` (see [`super::tls`]); the connection's
    /// task runs until the client is dropped.
    pub async fn connect(&self) -> Result<Client> {
        let tls = super::tls::connector(&self.name)?;
        let (client, connection) = self
            .config
            .connect(tls)
            .await
            .map_err(|e| Error::Database {
                database: self.name.clone(),
                reason: describe(&e),
            })?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }
}

fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// What the driver says went wrong, with the server's message and detail when there is
/// one (the driver's own `Display` says only "db error").
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = db.message().to_string();
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(&format!(": {said}"));
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// A connection string with any password replaced, for a message about the string itself.
fn redacted(source: &str) -> String {
    if let Some((scheme, rest)) = source.split_once("://") {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
            let query: Vec<&str> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|part| match part.split_once('=') {
                    Some(("password", _)) => "password=***",
                    _ => part,
                })
                .collect();
            let query = match query.is_empty() {
                true => String::new(),
                false => format!("?{}", query.join("&")),
            };
            return format!("{scheme}://{user}{hidden}@{host}{path}{query}");
        }
        return source.to_string();
    }
    source
        .split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_string_wins_and_variables_fill_in() {
        let db = Database::parse_with(
            "postgres://app:secret@db.internal:6543/prod",
            &env(&[("PGHOST", "other"), ("PGPASSWORD", "nope")]),
        )
        .expect("parse");
        assert_eq!(db.name(), "app@db.internal:6543/prod");
        assert_eq!(db.config.get_password(), Some(&b"secret"[..]));
        assert!(!format!("{db:?}").contains("secret"));

        let db = Database::parse_with(
            "dbname=prod",
            &env(&[
                ("PGHOST", "h"),
                ("PGPORT", "7000"),
                ("PGUSER", "u"),
                ("PGPASSWORD", "p"),
            ]),
        )
        .expect("parse");
        assert_eq!(db.name(), "u@h:7000/prod");
        assert_eq!(db.config.get_password(), Some(&b"p"[..]));
    }

    #[test]
    fn the_password_file_matches_with_wildcards_and_escapes() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:*:*:*:no\nh:5432:prod:u:pa\\:ss\\\\word\n*:*:*:*:fallback\n",
        )
        .expect("write");
        let path: &'static str = Box::leak(file.display().to_string().into_boxed_str());
        let vars: &'static [(&str, &str)] = Box::leak(Box::new([("PGPASSFILE", path)]));
        let db = Database::parse_with("postgres://u@h/prod", &env(vars)).expect("parse");
        assert_eq!(db.config.get_password(), Some(&b"pa:ss\\word"[..]));
        let db = Database::parse_with("postgres://v@h/prod", &env(vars)).expect("parse");
        assert_eq!(db.config.get_password(), Some(&b"fallback"[..]));
    }

    #[test]
    fn a_bad_string_is_named_without_its_password() {
        let err = Database::parse_with("postgres://u:hunter2@h:notaport/db", &env(&[]))
            .expect_err("bad port")
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("not a PostgreSQL connection string"), "{err}");
        assert_eq!(
            redacted("host=h password=p dbname=d"),
            "host=h password=*** dbname=d"
        );
        let err = Database::parse_with("postgres://u:hunter2@h/db?sslmode=verify-full", &env(&[]))
            .expect_err("verify-full")
            .to_string();
        assert!(err.contains("use sslmode=require"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(
            redacted("postgres://u:p@h:1/db?sslmode=require&password=q"),
            "postgres://u:***@h:1/db?sslmode=require&password=***"
        );
    }
}
