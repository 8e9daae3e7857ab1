//! The parser: tokens to a tree, checking what Go checks at parse time
//! (known functions, declared variables, `break` inside `range`, balanced `end`).

use std::collections::HashMap;

use super::lex::{Keyword, Tok, Token};

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    With(Control),
    Range(Control),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Control {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.A.B` (fields off dot)
    Field(Vec<String>),
    Dot,
    Nil,
    /// `$x.A.B`
    Var(String, Vec<String>),
    Bool(bool),
    Number(Number),
    Str(String),
    /// A function name.
    Func(String),
    /// `(pipeline).A.B`
    Chain(Box<Pipe>, Vec<String>),
    Pipe(Box<Pipe>),
}

/// A numeric literal, typed as Go's `idealConstant` types it when the
/// receiving parameter is `interface{}`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

pub(crate) struct ParseError {
    pub pos: usize,
    pub message: String,
}

pub(crate) struct Parsed {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

/// Nesting limit for parentheses and control structures; keeps recursion bounded.
const MAX_DEPTH: usize = 200;

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    end_pos: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    defines: HashMap<String, Vec<Node>>,
}

type PResult<T> = Result<T, ParseError>;

/// What ended a list of nodes.
enum ListEnd {
    Eof,
    End,
    Else,
}

pub(crate) fn parse(
    toks: &[Token],
    end_pos: usize,
    is_func: &dyn Fn(&str) -> bool,
) -> PResult<Parsed> {
    let mut p = Parser {
        toks,
        i: 0,
        end_pos,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        is_func,
        defines: HashMap::new(),
    };
    let (root, end) = p.list(true)?;
    match end {
        ListEnd::Eof => Ok(Parsed {
            root,
            defines: p.defines,
        }),
        ListEnd::End => Err(p.err_prev("unexpected {{end}}")),
        ListEnd::Else => Err(p.err_prev("unexpected {{else}}")),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.kind)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end_pos, |t| t.pos)
    }

    fn next(&mut self) -> Option<&Token> {
        let t = self.toks.get(self.i);
        self.i += 1;
        t
    }

    fn err(&self, m: impl Into<String>) -> ParseError {
        ParseError {
            pos: self.pos(),
            message: m.into(),
        }
    }

    fn err_prev(&self, m: impl Into<String>) -> ParseError {
        let pos = self
            .toks
            .get(self.i.saturating_sub(1))
            .map_or(self.end_pos, |t| t.pos);
        ParseError {
            pos,
            message: m.into(),
        }
    }

    fn expect_right(&mut self, ctx: &str) -> PResult<()> {
        match self.next().map(|t| &t.kind) {
            Some(Tok::RightDelim) => Ok(()),
            _ => Err(self.err_prev(format!("unexpected token in {ctx}"))),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("template nested too deeply"));
        }
        Ok(())
    }

    /// Parses nodes until `{{end}}`, `{{else}}` or the end of input; the
    /// terminating `end`/`else` keyword is consumed (not its right delimiter
    /// for `else`, which may be `else if`).
    fn list(&mut self, top: bool) -> PResult<(Vec<Node>, ListEnd)> {
        let mut nodes = Vec::new();
        loop {
            let Some(tok) = self.next() else {
                return Ok((nodes, ListEnd::Eof));
            };
            match &tok.kind {
                Tok::Text(t) => nodes.push(Node::Text(t.clone())),
                Tok::LeftDelim => {
                    let pos = self.pos();
                    match self.peek() {
                        Some(Tok::Keyword(Keyword::End)) => {
                            self.i += 1;
                            self.expect_right("end")?;
                            return Ok((nodes, ListEnd::End));
                        }
                        Some(Tok::Keyword(Keyword::Else)) => {
                            self.i += 1;
                            return Ok((nodes, ListEnd::Else));
                        }
                        Some(Tok::Keyword(Keyword::Define)) => {
                            if !top {
                                return Err(self.err("unexpected <define> in command"));
                            }
                            self.i += 1;
                            self.define()?;
                        }
                        Some(Tok::Keyword(kw)) => {
                            let kw = *kw;
                            self.i += 1;
                            nodes.push(self.keyword(kw, pos)?);
                        }
                        _ => {
                            let pipe = self.pipeline("command", true)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                _ => return Err(self.err_prev("unexpected token")),
            }
        }
    }

    fn keyword(&mut self, kw: Keyword, pos: usize) -> PResult<Node> {
        match kw {
            Keyword::If => Ok(Node::If(self.control("if")?)),
            Keyword::With => Ok(Node::With(self.control("with")?)),
            Keyword::Range => {
                self.range_depth += 1;
                let c = self.control("range");
                self.range_depth -= 1;
                Ok(Node::Range(c?))
            }
            Keyword::Break | Keyword::Continue => {
                if self.range_depth == 0 {
                    return Err(self
                        .err_prev(format!("{{{{{kw:?}}}}} outside {{{{range}}}}").to_lowercase()));
                }
                self.expect_right("break/continue")?;
                Ok(if kw == Keyword::Break {
                    Node::Break
                } else {
                    Node::Continue
                })
            }
            Keyword::Template => {
                let name = match self.next().map(|t| &t.kind) {
                    Some(Tok::Str(s)) => s.clone(),
                    _ => return Err(self.err_prev("unexpected token in template clause")),
                };
                let pipe = if matches!(self.peek(), Some(Tok::RightDelim)) {
                    self.i += 1;
                    None
                } else {
                    Some(self.pipeline("template clause", false)?)
                };
                Ok(Node::Template { pos, name, pipe })
            }
            Keyword::Block => {
                let name = match self.next().map(|t| &t.kind) {
                    Some(Tok::Str(s)) => s.clone(),
                    _ => return Err(self.err_prev("unexpected token in block clause")),
                };
                let pipe = self.pipeline("block clause", false)?;
                let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
                let listed = self.list(false);
                self.vars = saved;
                let (body, end) = listed?;
                if !matches!(end, ListEnd::End) {
                    return Err(self.err_prev("unexpected EOF in block"));
                }
                self.defines.insert(name.clone(), body);
                Ok(Node::Template {
                    pos,
                    name,
                    pipe: Some(pipe),
                })
            }
            Keyword::Else | Keyword::End | Keyword::Define => {
                Err(self.err_prev("unexpected keyword"))
            }
        }
    }

    fn define(&mut self) -> PResult<()> {
        let name = match self.next().map(|t| &t.kind) {
            Some(Tok::Str(s)) => s.clone(),
            _ => return Err(self.err_prev("define: expected name string")),
        };
        self.expect_right("define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let body = self.list(false);
        self.vars = saved;
        let (body, end) = body?;
        if !matches!(end, ListEnd::End) {
            return Err(self.err_prev("unexpected EOF in define"));
        }
        // Go keeps an earlier non-empty definition over a later empty one, and
        // refuses two non-empty ones.
        let is_empty = |b: &[Node]| {
            b.iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        };
        match self.defines.get(&name) {
            Some(old) if !is_empty(old) && !is_empty(&body) => {
                return Err(self.err_prev(format!(
                    "template: multiple definition of template {name:?}"
                )));
            }
            Some(old) if !is_empty(old) => {}
            _ => {
                self.defines.insert(name, body);
            }
        }
        Ok(())
    }

    /// `if`/`with`/`range` after the keyword: pipeline, body, optional else.
    fn control(&mut self, ctx: &'static str) -> PResult<Control> {
        self.enter()?;
        let mark = self.vars.len();
        let pipe = self.pipeline(ctx, false)?;
        let (list, end) = self.list(false)?;
        let else_list = match end {
            ListEnd::Eof => return Err(self.err(format!("unexpected EOF in {ctx}"))),
            ListEnd::End => None,
            ListEnd::Else => {
                // `{{else if ...}}` / `{{else with ...}}` chain into one nested node
                // that shares the final `{{end}}`.
                match (ctx, self.peek()) {
                    ("if", Some(Tok::Keyword(Keyword::If)))
                    | ("with", Some(Tok::Keyword(Keyword::With))) => {
                        self.i += 1;
                        let inner = self.control(ctx)?;
                        Some(vec![if ctx == "if" {
                            Node::If(inner)
                        } else {
                            Node::With(inner)
                        }])
                    }
                    _ => {
                        self.expect_right("else")?;
                        let (else_list, end) = self.list(false)?;
                        match end {
                            ListEnd::End => Some(else_list),
                            ListEnd::Else => {
                                return Err(self.err_prev("expected end; found {{else}}"));
                            }
                            ListEnd::Eof => {
                                return Err(self.err(format!("unexpected EOF in {ctx}")));
                            }
                        }
                    }
                }
            }
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Control {
            pipe,
            list,
            else_list,
        })
    }

    /// A pipeline through the closing delimiter (or `)` when nested).
    fn pipeline(&mut self, ctx: &str, allow_decl_print: bool) -> PResult<Pipe> {
        let _ = allow_decl_print;
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Declarations: `$x :=`, `$x =`, `$k, $v :=` (the last only for range).
        if let Some(Tok::Variable(v)) = self.peek() {
            let v = v.clone();
            let save = self.i;
            self.i += 1;
            match self.peek() {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    is_assign = matches!(self.peek(), Some(Tok::Assign));
                    self.i += 1;
                    decl.push(v);
                }
                Some(Tok::Comma) if ctx == "range" => {
                    self.i += 1;
                    match (self.next().map(|t| t.kind.clone()), self.peek()) {
                        (Some(Tok::Variable(v2)), Some(Tok::Declare) | Some(Tok::Assign)) => {
                            is_assign = matches!(self.peek(), Some(Tok::Assign));
                            self.i += 1;
                            decl.push(v);
                            decl.push(v2);
                        }
                        _ => return Err(self.err_prev("range can only initialize variables")),
                    }
                }
                _ => self.i = save,
            }
        }
        if let Some(v) = decl.iter().find(|v| is_assign && !self.vars.contains(v)) {
            return Err(self.err_prev(format!("undefined variable {v:?}")));
        }
        let mut cmds = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::RightDelim) => {
                    self.i += 1;
                    break;
                }
                Some(Tok::RParen) if ctx == "parenthesized pipeline" => {
                    self.i += 1;
                    break;
                }
                None => return Err(self.err(format!("unclosed action in {ctx}"))),
                _ => {
                    let cmd = self.command()?;
                    cmds.push(cmd);
                    match self.peek() {
                        Some(Tok::Pipe) => {
                            self.i += 1;
                            if matches!(self.peek(), Some(Tok::RightDelim | Tok::RParen) | None) {
                                return Err(self.err("missing command after |"));
                            }
                        }
                        Some(Tok::RightDelim) | Some(Tok::RParen) => {}
                        _ => return Err(self.err("unexpected token in operand")),
                    }
                }
            }
        }
        if cmds.is_empty() {
            return Err(self.err_prev(format!("missing value for {ctx}")));
        }
        for (i, c) in cmds.iter().enumerate() {
            if i > 0
                && !matches!(
                    c.args.first(),
                    Some(Arg::Func(_) | Arg::Field(_) | Arg::Var(..) | Arg::Chain(..))
                )
                && !matches!(c.args.first(), Some(Arg::Dot))
            {
                return Err(ParseError {
                    pos: c.pos,
                    message: "non executable command in pipeline stage".into(),
                });
            }
        }
        if !is_assign {
            for v in &decl {
                self.vars.push(v.clone());
            }
        }
        Ok(Pipe {
            pos,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::RightDelim | Tok::RParen | Tok::Pipe) | None => break,
                _ => {}
            }
            if !args.is_empty() && !self.toks[self.i].space_before {
                return Err(self.err("missing space between operands"));
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return Err(self.err("empty command"));
        }
        if let [Arg::Nil] = args.as_slice() {
            return Err(ParseError {
                pos,
                message: "nil is not a command".into(),
            });
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> PResult<Arg> {
        let term = self.term()?;
        let mut fields = Vec::new();
        while let Some(Tok::Field(f)) = self.peek() {
            if self.toks[self.i].space_before {
                break;
            }
            fields.push(f.clone());
            self.i += 1;
        }
        if fields.is_empty() {
            return Ok(term);
        }
        Ok(match term {
            Arg::Field(mut a) => {
                a.extend(fields);
                Arg::Field(a)
            }
            Arg::Var(v, mut a) => {
                a.extend(fields);
                Arg::Var(v, a)
            }
            Arg::Pipe(p) => Arg::Chain(p, fields),
            // `scratch.Set "k" v`: a method of what the function returns.
            func @ Arg::Func(_) => Arg::Chain(
                Box::new(Pipe {
                    pos: self.pos(),
                    decl: Vec::new(),
                    is_assign: false,
                    cmds: vec![Command {
                        pos: self.pos(),
                        args: vec![func],
                    }],
                }),
                fields,
            ),
            Arg::Dot => Arg::Field(fields),
            Arg::Nil => return Err(self.err("nil is not a command")),
            _ => return Err(self.err("unexpected . after term")),
        })
    }

    fn term(&mut self) -> PResult<Arg> {
        let Some(tok) = self.next() else {
            return Err(self.err("unexpected EOF"));
        };
        let pos = tok.pos;
        Ok(match tok.kind.clone() {
            Tok::Ident(name) => {
                if !(self.is_func)(&name) {
                    return Err(ParseError {
                        pos,
                        message: format!("function {name:?} not defined"),
                    });
                }
                Arg::Func(name)
            }
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Variable(v) => {
                if !self.vars.contains(&v) {
                    return Err(ParseError {
                        pos,
                        message: format!("undefined variable {v:?}"),
                    });
                }
                Arg::Var(v, Vec::new())
            }
            Tok::Field(f) => Arg::Field(vec![f]),
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Str(s) => Arg::Str(s),
            Tok::Char(c) => Arg::Number(Number::Int(c as i64)),
            Tok::Number(n) => Arg::Number(parse_number(&n).ok_or(ParseError {
                pos,
                message: format!("illegal number syntax: {n:?}"),
            })?),
            Tok::LParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", false)?;
                self.depth -= 1;
                Arg::Pipe(Box::new(p))
            }
            _ => {
                return Err(ParseError {
                    pos,
                    message: "unexpected token in operand".into(),
                });
            }
        })
    }
}

fn parse_number(text: &str) -> Option<Number> {
    let t: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = i64::from_str_radix(hex, 16).ok()?;
        return Some(Number::Int(if neg { -v } else { v }));
    }
    if body.contains(['.', 'e', 'E']) {
        let f: f64 = t.parse().ok()?;
        return Some(Number::Float(f));
    }
    if body.len() > 1 && body.starts_with('0') {
        let v = i64::from_str_radix(&body[1..], 8).ok()?;
        return Some(Number::Int(if neg { -v } else { v }));
    }
    t.parse::<i64>().ok().map(Number::Int)
}
