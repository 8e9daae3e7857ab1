//! Splits a command line into words the way a POSIX shell would, for a command the kagi agent
//! runs without a shell (its image has none).
//!
//! Quotes (`'...'`, `"..."`) and backslashes are honoured as `sh` honours them. Anything that
//! only a shell could carry out (pipes, lists, redirections, expansions, globs, comments,
//! variable assignments, reserved words) is refused, naming what was found, instead of being
//! passed on as a literal argument that would silently mean something else.

/// Why a command line cannot be run without a shell, e.g. "a pipe `|`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsShell(pub &'static str);

/// Reserved words that only mean something to a shell when they start a command.
const RESERVED_WORDS: &[&str] = &[
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
    "until", "while",
];

/// The words of `line`, with quotes and backslashes removed.
pub fn split(line: &str) -> Result<Vec<String>, NeedsShell> {
    let mut words = Vec::new();
    // `Some` while a word is open (an empty quoted word `''` is still a word).
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\n' | ';' => return Err(NeedsShell("a command separator (`;` or a newline)")),
            '|' => {
                return Err(NeedsShell(if chars.peek() == Some(&'|') {
                    "a list `||`"
                } else {
                    "a pipe `|`"
                }));
            }
            '&' => {
                return Err(NeedsShell(if chars.peek() == Some(&'&') {
                    "a list `&&`"
                } else {
                    "a background job `&`"
                }));
            }
            '<' | '>' => return Err(NeedsShell("a redirection (`<` or `>`)")),
            '(' | ')' => return Err(NeedsShell("a subshell `( )`")),
            '`' => return Err(NeedsShell("command substitution (backticks)")),
            '$' => return Err(dollar(chars.peek().copied())),
            '*' | '?' | '[' => return Err(NeedsShell("a glob (`*`, `?` or `[`)")),
            '#' if word.is_none() => return Err(NeedsShell("a comment `#`")),
            '~' if word.is_none() => return Err(NeedsShell("tilde expansion `~`")),
            '\\' => match chars.next() {
                // A backslash-newline joins lines and is removed.
                Some('\n') => {}
                Some(escaped) => word.get_or_insert_with(String::new).push(escaped),
                None => return Err(NeedsShell("a trailing backslash")),
            },
            '\'' => {
                let open = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(inner) => open.push(inner),
                        None => return Err(NeedsShell("an unterminated single quote")),
                    }
                }
            }
            '"' => {
                let open = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(e @ ('$' | '`' | '"' | '\\')) => open.push(e),
                            // Inside double quotes other backslashes are literal.
                            Some(other) => {
                                open.push('\\');
                                open.push(other);
                            }
                            None => return Err(NeedsShell("an unterminated double quote")),
                        },
                        Some('$') => return Err(dollar(chars.peek().copied())),
                        Some('`') => return Err(NeedsShell("command substitution (backticks)")),
                        Some(inner) => open.push(inner),
                        None => return Err(NeedsShell("an unterminated double quote")),
                    }
                }
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    words.extend(word);
    check_command_word(line, &words)?;
    Ok(words)
}

fn dollar(next: Option<char>) -> NeedsShell {
    NeedsShell(match next {
        Some('(') => "command substitution `$(...)`",
        _ => "a `$` expansion (variables such as `$VAR` or `${VAR}`)",
    })
}

/// Refuses what a shell would read specially in command position: nothing at all, an
/// assignment `NAME=value` (it sets the environment, it is not a program), a reserved word.
fn check_command_word(line: &str, words: &[String]) -> Result<(), NeedsShell> {
    let Some(first) = words.first() else {
        return Err(NeedsShell("no command at all"));
    };
    if first.is_empty() {
        return Err(NeedsShell("an empty program name"));
    }
    // Judged on the text as written: a quoted `'A=b'` is a program name, not an assignment.
    let written = line.trim_start();
    let name_len = written
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(written.len());
    let starts_with_letter = written.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if starts_with_letter && written[name_len..].starts_with('=') {
        return Err(NeedsShell("a variable assignment `NAME=value`"));
    }
    if RESERVED_WORDS.contains(&written.split([' ', '\t']).next().unwrap_or_default()) {
        return Err(NeedsShell("a shell reserved word"));
    }
    Ok(())
}
