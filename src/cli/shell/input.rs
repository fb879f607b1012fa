//! Shell input as the shell reads it: SQL statements ended by `;` (quotes and comments
//! respected) and backslash meta-commands, one per line. The prompt's validator and
//! the script runner share this one reading, so a script runs as if typed.

/// One thing to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A statement, without its `;`.
    Sql(String),
    /// A meta-command line, without its backslash.
    Meta(String),
}

/// An item and the line it starts on (1-based), for a script's error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: usize,
    pub item: Item,
}

/// What `text` holds: the complete items, and a statement not yet ended by `;` (none
/// when only spaces and comments follow the last item).
#[derive(Debug, Default)]
pub struct Split {
    pub items: Vec<Located>,
    pub unfinished: Option<Located>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Quoted(char),
    LineComment,
    BlockComment(usize),
}

/// Splits `text` into items.
pub fn split(text: &str) -> Split {
    let mut split = Split::default();
    let mut state = State::Code;
    let mut statement = String::new();
    let mut has_code = false;
    let mut start_line = 1;
    let mut line = 1;
    let mut at_line_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if state == State::Code && at_line_start && !has_code && c == '\\' {
            let mut meta = String::new();
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
                meta.push(c);
            }
            split.items.push(Located {
                line,
                item: Item::Meta(meta.trim().to_string()),
            });
            line += 1;
            statement.clear();
            continue;
        }
        if c == '\n' {
            line += 1;
            at_line_start = true;
        } else if !c.is_whitespace() {
            at_line_start = false;
        }
        match state {
            State::Code => match c {
                ';' => {
                    if has_code {
                        split.items.push(Located {
                            line: start_line,
                            item: Item::Sql(statement.trim().to_string()),
                        });
                    }
                    statement.clear();
                    has_code = false;
                    // What follows `;` on the same line may be a meta-command, as in psql.
                    at_line_start = true;
                    continue;
                }
                '\'' | '"' => state = State::Quoted(c),
                '-' if chars.peek() == Some(&'-') => state = State::LineComment,
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    statement.push_str("/*");
                    state = State::BlockComment(1);
                    continue;
                }
                _ => {}
            },
            State::Quoted(quote) if c == quote => state = State::Code,
            State::Quoted(_) => {}
            State::LineComment if c == '\n' => state = State::Code,
            State::LineComment => {}
            State::BlockComment(depth) => {
                if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    statement.push_str("*/");
                    state = if depth == 1 {
                        State::Code
                    } else {
                        State::BlockComment(depth - 1)
                    };
                    continue;
                }
                if c == '/' && chars.peek() == Some(&'*') {
                    chars.next();
                    statement.push_str("/*");
                    state = State::BlockComment(depth + 1);
                    continue;
                }
            }
        }
        let is_code = matches!(state, State::Code | State::Quoted(_)) && !c.is_whitespace();
        if is_code && !has_code {
            has_code = true;
            start_line = line;
        }
        statement.push(c);
    }
    if has_code {
        split.unfinished = Some(Located {
            line: start_line,
            item: Item::Sql(statement.trim().to_string()),
        });
    }
    split
}

/// Whether the prompt should wait for more lines: a statement is open, or a quote or
/// comment is.
pub fn is_unfinished(text: &str) -> bool {
    split(text).unfinished.is_some()
}

/// A meta-command's words: split on spaces, with '…' or "…" holding spaces.
pub fn words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.get_or_insert_default().push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            None if c.is_whitespace() => words.extend(word.take()),
            None => word.get_or_insert_default().push(c),
        }
    }
    if let Some(q) = quote {
        return Err(format!("unclosed {q} quote"));
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(line: usize, text: &str) -> Located {
        Located {
            line,
            item: Item::Sql(text.to_string()),
        }
    }

    fn meta(line: usize, text: &str) -> Located {
        Located {
            line,
            item: Item::Meta(text.to_string()),
        }
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let text =
            "SELECT ';' AS a, \"x;y\" -- not; here\nFROM t;\n/* a; /* nested; */ */ SELECT 2;";
        let split = split(text);
        assert_eq!(
            split.items,
            vec![
                sql(1, "SELECT ';' AS a, \"x;y\" -- not; here\nFROM t"),
                sql(3, "/* a; /* nested; */ */ SELECT 2"),
            ]
        );
        assert!(split.unfinished.is_none());
    }

    #[test]
    fn meta_commands_take_a_line_and_only_at_its_start() {
        let split = split("\\d users\nSELECT 1\n\\not a meta;\nSELECT 2; \\timing on\n");
        assert_eq!(
            split.items,
            vec![
                meta(1, "d users"),
                sql(2, "SELECT 1\n\\not a meta"),
                sql(4, "SELECT 2"),
                meta(4, "timing on"),
            ]
        );
    }

    #[test]
    fn an_open_statement_quote_or_comment_is_unfinished() {
        assert!(is_unfinished("SELECT 1"));
        assert!(is_unfinished("SELECT 'a;"));
        assert!(is_unfinished("SELECT 1 /* ; "));
        assert!(!is_unfinished("SELECT 1;"));
        assert!(!is_unfinished("-- only a comment"));
        assert!(!is_unfinished("   "));
        assert!(!is_unfinished("\\d"));
        assert_eq!(
            split("SELECT 1;\n\nSELECT\n 2").unfinished,
            Some(sql(3, "SELECT\n 2"))
        );
    }

    #[test]
    fn words_keep_quoted_spaces() {
        assert_eq!(
            words("metric x --bank 'Big Bank' --from \"\"").unwrap(),
            vec!["metric", "x", "--bank", "Big Bank", "--from", ""]
        );
        assert!(words("x 'open").is_err());
    }
}
