//! The prompt's helper: it waits for a statement's `;` and completes from the live
//! catalogue, so what `--include-pii` registers is what Tab offers.

use std::collections::BTreeMap;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::input;

/// The words Tab can offer, read from the session when it opens.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    /// Each relation's columns, by relation name.
    pub relations: BTreeMap<String, Vec<String>>,
    pub functions: Vec<String>,
    pub metrics: Vec<String>,
    pub snapshots: Vec<String>,
}

/// The SQL words an analyst types most; the planner knows more, but offering all of
/// them buries the useful ones.
const KEYWORDS: &[&str] = &[
    "ALL",
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CROSS",
    "DATE",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "ELSE",
    "END",
    "EXCEPT",
    "EXCLUDE",
    "EXISTS",
    "EXPLAIN",
    "FALSE",
    "FILTER",
    "FIRST",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "ILIKE",
    "IN",
    "INNER",
    "INTERSECT",
    "INTERVAL",
    "IS",
    "JOIN",
    "LAST",
    "LEFT",
    "LIKE",
    "LIMIT",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "QUALIFY",
    "RIGHT",
    "ROWS",
    "SELECT",
    "SHOW",
    "TABLES",
    "THEN",
    "TIMESTAMP",
    "TRUE",
    "UNION",
    "USING",
    "VALUES",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

/// The meta-commands, as Tab completes them.
pub const META_COMMANDS: &[&str] = &[
    "\\d",
    "\\format",
    "\\i",
    "\\metric",
    "\\o",
    "\\q",
    "\\snapshot",
    "\\summarize",
    "\\timing",
    "\\?",
];

const FORMATS: &[&str] = &["table", "csv", "json", "markdown", "parquet"];
const METRIC_FLAGS: &[&str] = &["--from", "--to", "--active-only", "--event-types", "--bank"];

pub struct ShellHelper {
    pub vocabulary: Vocabulary,
    files: FilenameCompleter,
}

impl ShellHelper {
    pub fn new(vocabulary: Vocabulary) -> Self {
        ShellHelper {
            vocabulary,
            files: FilenameCompleter::new(),
        }
    }

    fn complete_meta(&self, line: &str, pos: usize, current: &str) -> (usize, Vec<Pair>) {
        let start = pos - word_before(current, |c| !c.is_whitespace()).len();
        let partial = &line[start..pos];
        let mut words = current.split_whitespace();
        let command = words.next().unwrap_or("");
        if start == pos - current.trim_start().len() {
            return (start, matching(META_COMMANDS.iter().copied(), partial));
        }
        let first_argument = current.split_whitespace().count() == 1
            || (current.split_whitespace().count() == 2 && !partial.is_empty());
        let words: Vec<&str> = match command {
            "\\i" | "\\o" => {
                return self
                    .files
                    .complete_path(line, pos)
                    .unwrap_or((pos, Vec::new()));
            }
            "\\d" | "\\summarize" if first_argument => self
                .vocabulary
                .relations
                .keys()
                .map(String::as_str)
                .collect(),
            "\\format" if first_argument => FORMATS.to_vec(),
            "\\timing" if first_argument => vec!["on", "off"],
            "\\snapshot" if first_argument => std::iter::once("latest")
                .chain(self.vocabulary.snapshots.iter().map(String::as_str))
                .collect(),
            "\\metric" if first_argument => {
                self.vocabulary.metrics.iter().map(String::as_str).collect()
            }
            "\\metric" => METRIC_FLAGS.to_vec(),
            _ => Vec::new(),
        };
        (start, matching(words.into_iter(), partial))
    }

    fn complete_sql(&self, line: &str, pos: usize, current: &str) -> (usize, Vec<Pair>) {
        let word = word_before(current, |c| c.is_alphanumeric() || c == '_' || c == '.');
        let start = pos - word.len();
        if let Some((qualifier, partial)) = word.rsplit_once('.') {
            let columns = resolve(qualifier, line, &self.vocabulary)
                .map(|columns| matching(columns.iter().map(String::as_str), partial))
                .unwrap_or_default();
            return (pos - partial.len(), columns);
        }
        if word.is_empty() {
            return (pos, Vec::new());
        }
        let lower = word.chars().all(|c| !c.is_uppercase());
        let keywords: Vec<String> = KEYWORDS
            .iter()
            .map(|k| {
                if lower {
                    k.to_lowercase()
                } else {
                    k.to_string()
                }
            })
            .collect();
        let named = named_relations(line, &self.vocabulary);
        let columns = named
            .iter()
            .filter_map(|name| self.vocabulary.relations.get(*name))
            .flatten()
            .map(String::as_str);
        let candidates = columns
            .chain(self.vocabulary.relations.keys().map(String::as_str))
            .chain(keywords.iter().map(String::as_str))
            .chain(self.vocabulary.functions.iter().map(String::as_str));
        (start, matching(candidates, word))
    }
}

/// The longest end of `text` whose characters all satisfy `keep`.
fn word_before(text: &str, keep: impl Fn(char) -> bool) -> &str {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, c)| keep(*c))
        .last()
        .map_or(text.len(), |(i, _)| i);
    &text[start..]
}

/// The candidates that start with `partial` (ignoring case), sorted, each once.
fn matching<'a>(candidates: impl Iterator<Item = &'a str>, partial: &str) -> Vec<Pair> {
    let partial = partial.to_lowercase();
    let mut words: Vec<&str> = candidates
        .filter(|c| c.to_lowercase().starts_with(&partial))
        .collect();
    words.sort_unstable();
    words.dedup();
    words
        .into_iter()
        .map(|w| Pair {
            display: w.to_string(),
            replacement: w.to_string(),
        })
        .collect()
}

/// The identifiers of `statement`, in order.
fn identifiers(statement: &str) -> Vec<&str> {
    statement
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The relations `statement` names.
fn named_relations<'a>(statement: &'a str, vocabulary: &Vocabulary) -> Vec<&'a str> {
    identifiers(statement)
        .into_iter()
        .filter(|w| vocabulary.relations.contains_key(*w))
        .collect()
}

/// The columns of the relation `qualifier` names: the relation itself, or an alias the
/// statement gives one (`FROM users u`, `JOIN users AS u`).
fn resolve<'v>(
    qualifier: &str,
    statement: &str,
    vocabulary: &'v Vocabulary,
) -> Option<&'v [String]> {
    if let Some(columns) = vocabulary.relations.get(qualifier) {
        return Some(columns);
    }
    let words = identifiers(statement);
    words.iter().enumerate().find_map(|(i, word)| {
        let columns = vocabulary.relations.get(*word)?;
        let alias = match words.get(i + 1) {
            Some(next) if next.eq_ignore_ascii_case("as") => words.get(i + 2),
            next => next,
        }?;
        alias
            .eq_ignore_ascii_case(qualifier)
            .then_some(columns.as_slice())
    })
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let line_start = line[..pos].rfind('\n').map_or(0, |i| i + 1);
        let current = &line[line_start..pos];
        if current.trim_start().starts_with('\\') {
            return Ok(self.complete_meta(line, pos, current));
        }
        Ok(self.complete_sql(line, pos, current))
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        if input::is_unfinished(ctx.input()) {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ShellHelper {
        let mut vocabulary = Vocabulary::default();
        vocabulary.relations.insert(
            "users".into(),
            vec!["id".into(), "created_at".into(), "is_active".into()],
        );
        vocabulary.relations.insert(
            "user_events".into(),
            vec!["user_id".into(), "event_type".into()],
        );
        vocabulary.functions = vec!["count".into(), "local_week".into()];
        vocabulary.metrics = vec!["cohort_retention".into(), "activation".into()];
        ShellHelper::new(vocabulary)
    }

    /// Completes at `|` (else at the end).
    fn complete(text: &str) -> (usize, Vec<String>) {
        let helper = helper();
        let pos = text.find('|').unwrap_or(text.len());
        let line = text.replacen('|', "", 1);
        let current = &line[line[..pos].rfind('\n').map_or(0, |i| i + 1)..pos];
        let (start, pairs) = if current.trim_start().starts_with('\\') {
            helper.complete_meta(&line, pos, current)
        } else {
            helper.complete_sql(&line, pos, current)
        };
        (start, pairs.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn columns_after_a_table_or_its_alias() {
        assert_eq!(
            complete("SELECT users.cr"),
            (13, vec!["created_at".to_string()])
        );
        assert_eq!(
            complete("SELECT e.ev| FROM user_events AS e"),
            (9, vec!["event_type".to_string()])
        );
        assert_eq!(
            complete("SELECT u.i| FROM users u").1,
            vec!["id".to_string(), "is_active".to_string()]
        );
    }

    #[test]
    fn columns_of_the_named_tables_keywords_and_functions() {
        assert_eq!(
            complete("SELECT cre| FROM users").1,
            vec!["created_at".to_string()]
        );
        assert_eq!(complete("sel").1, vec!["select".to_string()]);
        assert_eq!(complete("SEL").1, vec!["SELECT".to_string()]);
        assert_eq!(complete("SELECT local_").1, vec!["local_week".to_string()]);
        assert_eq!(
            complete("SELECT * FROM user").1,
            vec!["user_events".to_string(), "users".to_string()]
        );
        // A column is offered once a statement names its table.
        assert!(complete("SELECT cre").1.is_empty());
    }

    #[test]
    fn meta_commands_and_their_arguments() {
        assert_eq!(complete("\\su").1, vec!["\\summarize".to_string()]);
        assert_eq!(
            complete("\\d us"),
            (3, vec!["user_events".to_string(), "users".to_string()])
        );
        assert_eq!(complete("\\format j").1, vec!["json".to_string()]);
        assert_eq!(
            complete("\\metric co").1,
            vec!["cohort_retention".to_string()]
        );
        assert_eq!(
            complete("\\metric activation --a").1,
            vec!["--active-only".to_string()]
        );
    }
}
