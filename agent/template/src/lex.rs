//! The lexer: Go `text/template` tokens, including `{{-`/`-}}` trimming,
//! comments and custom delimiters.

/// One token. `pos` is a byte offset into the template text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub pos: usize,
    /// Whitespace came right before this token (it separates operands).
    pub space_before: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Ident(String),
    /// `.Name`
    Field(String),
    /// `.` alone
    Dot,
    /// `$` or `$name`
    Variable(String),
    Str(String),
    Number(String),
    Char(char),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
    Keyword(Keyword),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

pub(crate) struct LexError {
    pub pos: usize,
    pub message: String,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits `input` into tokens.
pub(crate) fn lex(input: &str, left: &str, right: &str) -> Result<Vec<Token>, LexError> {
    let left = if left.is_empty() { "{{" } else { left };
    let right = if right.is_empty() { "}}" } else { right };
    let bytes = input.as_bytes();
    let mut toks: Vec<Token> = Vec::new();
    let mut pos = 0;
    // Set by a `-}}`: the next text loses its leading whitespace.
    let mut trim_next = false;
    while pos < input.len() {
        let start = pos;
        let next = input[pos..].find(left).map(|i| pos + i);
        let text_end = next.unwrap_or(input.len());
        let mut text = &input[start..text_end];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            trim_next = false;
        }
        let Some(delim_at) = next else {
            if !text.is_empty() {
                toks.push(Token {
                    kind: Tok::Text(text.to_string()),
                    pos: start,
                    space_before: false,
                });
            }
            break;
        };
        let after_left = delim_at + left.len();
        let trim_left = bytes.len() >= after_left + 2
            && bytes[after_left] == b'-'
            && is_space(bytes[after_left + 1]);
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        if !text.is_empty() {
            toks.push(Token {
                kind: Tok::Text(text.to_string()),
                pos: start,
                space_before: false,
            });
        }
        let mut p = after_left + if trim_left { 2 } else { 0 };
        // A comment must follow the delimiter (and trim marker) directly.
        if input[p..].starts_with("/*") {
            let Some(end) = input[p + 2..].find("*/") else {
                return Err(LexError {
                    pos: delim_at,
                    message: "unclosed comment".into(),
                });
            };
            p = p + 2 + end + 2;
            let rest = &input[p..];
            if rest.starts_with(right) {
                pos = p + right.len();
            } else if rest.len() >= 2
                && is_space(rest.as_bytes()[0])
                && rest[1..].starts_with('-')
                && rest[2..].starts_with(right)
            {
                pos = p + 2 + right.len();
                trim_next = true;
            } else {
                return Err(LexError {
                    pos: p,
                    message: "comment ends before closing delimiter".into(),
                });
            }
            continue;
        }
        toks.push(Token {
            kind: Tok::LeftDelim,
            pos: delim_at,
            space_before: false,
        });
        let (np, trim) = lex_action(input, p, right, &mut toks)?;
        pos = np;
        trim_next = trim;
    }
    Ok(toks)
}

/// Lexes inside an action from `p` through the right delimiter. Returns the
/// position after it and whether it carried a trim marker.
fn lex_action(
    input: &str,
    mut p: usize,
    right: &str,
    toks: &mut Vec<Token>,
) -> Result<(usize, bool), LexError> {
    let bytes = input.as_bytes();
    let mut space = false;
    let mut paren_depth = 0usize;
    loop {
        let rest = &input[p..];
        // `right` closes the action; " -" before it also trims what follows.
        let close = if rest.starts_with(right) {
            Some((right.len(), false))
        } else if rest.len() >= 2
            && is_space(rest.as_bytes()[0])
            && rest.as_bytes()[1] == b'-'
            && rest[2..].starts_with(right)
        {
            Some((2 + right.len(), true))
        } else {
            None
        };
        if let Some((len, trim)) = close {
            if paren_depth > 0 {
                return Err(LexError {
                    pos: p,
                    message: "unclosed left paren".into(),
                });
            }
            toks.push(Token {
                kind: Tok::RightDelim,
                pos: p,
                space_before: space || trim,
            });
            return Ok((p + len, trim));
        }
        let Some(c) = rest.chars().next() else {
            return Err(LexError {
                pos: p,
                message: "unclosed action".into(),
            });
        };
        if is_space(c as u8) && c.is_ascii() {
            space = true;
            p += 1;
            continue;
        }
        let start = p;
        let push = |toks: &mut Vec<Token>, kind: Tok| {
            toks.push(Token {
                kind,
                pos: start,
                space_before: space,
            });
        };
        match c {
            '(' => {
                paren_depth += 1;
                push(toks, Tok::LParen);
                p += 1;
            }
            ')' => {
                if paren_depth == 0 {
                    return Err(LexError {
                        pos: p,
                        message: "unexpected right paren".into(),
                    });
                }
                paren_depth -= 1;
                push(toks, Tok::RParen);
                p += 1;
            }
            '|' | ',' | '=' => {
                let kind = match c {
                    '|' => Tok::Pipe,
                    ',' => Tok::Comma,
                    _ => Tok::Assign,
                };
                push(toks, kind);
                p += 1;
            }
            ':' => {
                if bytes.get(p + 1) != Some(&b'=') {
                    return Err(LexError {
                        pos: p,
                        message: "expected :=".into(),
                    });
                }
                push(toks, Tok::Declare);
                p += 2;
            }
            '"' => {
                let (s, np) = lex_quote(input, p)?;
                push(toks, Tok::Str(s));
                p = np;
            }
            '`' => {
                let Some(end) = input[p + 1..].find('`') else {
                    return Err(LexError {
                        pos: p,
                        message: "unterminated raw quoted string".into(),
                    });
                };
                let raw = input[p + 1..p + 1 + end].replace('\r', "");
                push(toks, Tok::Str(raw));
                p = p + 1 + end + 1;
            }
            '\'' => {
                let (ch, np) = lex_char(input, p)?;
                push(toks, Tok::Char(ch));
                p = np;
            }
            '$' => {
                let mut q = p + 1;
                while let Some(ch) = input[q..].chars().next().filter(|c| is_alnum(*c)) {
                    q += ch.len_utf8();
                }
                push(toks, Tok::Variable(input[p..q].to_string()));
                p = check_terminator(input, q, right)?;
            }
            '.' => {
                let next = input[p + 1..].chars().next();
                if next.is_some_and(|c| c.is_ascii_digit()) {
                    let np = lex_number(input, p)?;
                    push(toks, Tok::Number(input[p..np].to_string()));
                    p = np;
                } else if next.is_some_and(is_alnum) {
                    let mut q = p + 1;
                    while let Some(ch) = input[q..].chars().next().filter(|c| is_alnum(*c)) {
                        q += ch.len_utf8();
                    }
                    push(toks, Tok::Field(input[p + 1..q].to_string()));
                    p = check_terminator(input, q, right)?;
                } else {
                    push(toks, Tok::Dot);
                    p += 1;
                }
            }
            '+' | '-' | '0'..='9' => {
                let np = lex_number(input, p)?;
                push(toks, Tok::Number(input[p..np].to_string()));
                p = np;
            }
            c if is_alnum(c) => {
                let mut q = p;
                while let Some(ch) = input[q..].chars().next().filter(|c| is_alnum(*c)) {
                    q += ch.len_utf8();
                }
                let word = &input[p..q];
                let kind = match word {
                    "block" => Tok::Keyword(Keyword::Block),
                    "break" => Tok::Keyword(Keyword::Break),
                    "continue" => Tok::Keyword(Keyword::Continue),
                    "define" => Tok::Keyword(Keyword::Define),
                    "else" => Tok::Keyword(Keyword::Else),
                    "end" => Tok::Keyword(Keyword::End),
                    "if" => Tok::Keyword(Keyword::If),
                    "range" => Tok::Keyword(Keyword::Range),
                    "template" => Tok::Keyword(Keyword::Template),
                    "with" => Tok::Keyword(Keyword::With),
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    _ => Tok::Ident(word.to_string()),
                };
                push(toks, kind);
                p = check_terminator(input, q, right)?;
            }
            other => {
                return Err(LexError {
                    pos: p,
                    message: format!("unrecognized character in action: {other:?}"),
                });
            }
        }
        space = false;
    }
}

/// After a word, only a separator may follow (Go: "bad character").
fn check_terminator(input: &str, q: usize, right: &str) -> Result<usize, LexError> {
    let rest = &input[q..];
    match rest.chars().next() {
        None => Ok(q),
        Some(c) if c.is_ascii() && is_space(c as u8) => Ok(q),
        Some('.' | ',' | '|' | ':' | ')' | '(' | '=') => Ok(q),
        Some(_) if rest.starts_with(right) => Ok(q),
        Some(c) => Err(LexError {
            pos: q,
            message: format!("bad character {c:?}"),
        }),
    }
}

fn lex_number(input: &str, p: usize) -> Result<usize, LexError> {
    let b = input.as_bytes();
    let mut q = p;
    if matches!(b.get(q), Some(b'+' | b'-')) {
        q += 1;
    }
    let hex = b.get(q) == Some(&b'0') && matches!(b.get(q + 1), Some(b'x' | b'X'));
    if hex {
        q += 2;
        while b
            .get(q)
            .is_some_and(|c| c.is_ascii_hexdigit() || *c == b'_')
        {
            q += 1;
        }
    } else {
        while b.get(q).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            q += 1;
        }
        if b.get(q) == Some(&b'.') {
            q += 1;
            while b.get(q).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
                q += 1;
            }
        }
        if matches!(b.get(q), Some(b'e' | b'E')) {
            q += 1;
            if matches!(b.get(q), Some(b'+' | b'-')) {
                q += 1;
            }
            while b.get(q).is_some_and(|c| c.is_ascii_digit()) {
                q += 1;
            }
        }
    }
    if input[q..].chars().next().is_some_and(is_alnum) || q == p {
        return Err(LexError {
            pos: p,
            message: "bad number syntax".into(),
        });
    }
    Ok(q)
}

/// Decodes a Go interpreted string literal starting at the opening quote.
fn lex_quote(input: &str, p: usize) -> Result<(String, usize), LexError> {
    let mut out = String::new();
    let mut it = input[p + 1..].char_indices();
    let err = |m: &str| LexError {
        pos: p,
        message: m.to_string(),
    };
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, p + 1 + i + 1)),
            '\n' => return Err(err("unterminated quoted string")),
            '\\' => {
                let Some((_, e)) = it.next() else {
                    return Err(err("unterminated quoted string"));
                };
                match e {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            let Some((_, h)) = it.next() else {
                                return Err(err("bad escape"));
                            };
                            v = v * 16 + h.to_digit(16).ok_or_else(|| err("bad escape"))?;
                        }
                        if e == 'x' {
                            // A byte; only ASCII bytes make valid UTF-8 on their own.
                            out.push(char::from_u32(v).filter(|_| v < 0x80).unwrap_or('\u{FFFD}'));
                        } else {
                            out.push(char::from_u32(v).ok_or_else(|| err("bad escape"))?);
                        }
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let Some((_, o)) = it.next() else {
                                return Err(err("bad escape"));
                            };
                            v = v * 8 + o.to_digit(8).ok_or_else(|| err("bad escape"))?;
                        }
                        out.push(char::from_u32(v).filter(|_| v < 0x80).unwrap_or('\u{FFFD}'));
                    }
                    _ => return Err(err("unknown escape sequence in string")),
                }
            }
            c => out.push(c),
        }
    }
    Err(err("unterminated quoted string"))
}

fn lex_char(input: &str, p: usize) -> Result<(char, usize), LexError> {
    let Some(end) = input[p + 1..].find('\'') else {
        return Err(LexError {
            pos: p,
            message: "unterminated character constant".into(),
        });
    };
    let body = &input[p + 1..p + 1 + end];
    let mut end = end;
    let ch = if body == "\\" {
        // '\'' : the quote is escaped; the literal ends at the next quote.
        end += 1;
        if input.as_bytes().get(p + 1 + end) != Some(&b'\'') {
            return Err(LexError {
                pos: p,
                message: "bad character constant".into(),
            });
        }
        '\''
    } else if let Some(esc) = body.strip_prefix('\\') {
        let quoted = format!("\"\\{esc}\"");
        let (s, _) = lex_quote(&quoted, 0)?;
        single_char(&s, p)?
    } else {
        single_char(body, p)?
    };
    Ok((ch, p + 1 + end + 1))
}

/// The one character of a character constant's (unescaped) body at `p`.
fn single_char(body: &str, p: usize) -> Result<char, LexError> {
    let mut cs = body.chars();
    match (cs.next(), cs.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(LexError {
            pos: p,
            message: "bad character constant".into(),
        }),
    }
}
