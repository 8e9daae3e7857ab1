//! The go-sockaddr template language: lexing, parsing and evaluating the
//! subset described in the parent module, with go-sockaddr's function table.

use super::addr::IfAddr;
use super::filters::{self, Host};
use crate::gofmt::go_quote;

/// The name go-sockaddr gives its template (it appears in errors).
const TEMPLATE_NAME: &str = "sockaddr.Parse";

/// Renders `text` against the host's addresses, or fails with go-sockaddr's
/// error (`unable to parse template ...` / `unable to execute sockaddr input ...`).
pub(super) fn render(text: &str, host: &Host) -> Result<String, String> {
    let quoted = go_quote(text);
    let nodes = parse(text).map_err(|(line, e)| {
        format!("unable to parse template {quoted}: template: {TEMPLATE_NAME}:{line}: {e}")
    })?;
    let mut out = String::new();
    for node in &nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval_pipeline(p, host, text)
                    .map_err(|e| format!("unable to execute sockaddr input {quoted}: {e}"))?;
                out.push_str(&print(&v));
            }
        }
    }
    Ok(out)
}

/// A value inside a go-sockaddr template.
#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Int(i64),
    Addrs(Vec<IfAddr>),
}

impl Val {
    fn go_type(&self) -> &'static str {
        match self {
            Val::Str(_) => "string",
            Val::Int(_) => "int",
            Val::Addrs(_) => "sockaddr.IfAddrs",
        }
    }
}

/// How text/template prints a value (an `IfAddrs` through `IfAddr.String`).
fn print(v: &Val) -> String {
    match v {
        Val::Str(s) => s.clone(),
        Val::Int(i) => i.to_string(),
        Val::Addrs(a) => {
            let items: Vec<String> = a.iter().map(IfAddr::go_string).collect();
            format!("[{}]", items.join(" "))
        }
    }
}

enum Node {
    Text(String),
    Action(Pipeline),
}

type Pipeline = Vec<Command>;

struct Command {
    /// Byte offset of the command in the template (for error positions).
    pos: usize,
    args: Vec<Arg>,
}

enum Arg {
    Str(String, String),
    Int(i64, String),
    Dot,
    Func(String),
    Pipe(Pipeline),
}

impl Arg {
    /// The argument as text/template shows it in an error context.
    fn show(&self) -> String {
        match self {
            Arg::Str(_, raw) | Arg::Int(_, raw) => raw.clone(),
            Arg::Dot => ".".into(),
            Arg::Func(name) => name.clone(),
            Arg::Pipe(p) => format!("({})", show_pipeline(p)),
        }
    }
}

fn show_pipeline(p: &Pipeline) -> String {
    let cmds: Vec<String> = p.iter().map(show_command).collect();
    cmds.join(" | ")
}

fn show_command(c: &Command) -> String {
    let args: Vec<String> = c.args.iter().map(Arg::show).collect();
    args.join(" ")
}

/// The parameter types of go-sockaddr's functions.
#[derive(Clone, Copy)]
enum Param {
    Str,
    Int,
    Uint,
    Addrs,
    Any,
}

fn signature(name: &str) -> Option<&'static [Param]> {
    use Param::*;
    Some(match name {
        "GetAllInterfaces"
        | "GetDefaultInterfaces"
        | "GetPrivateInterfaces"
        | "GetPublicInterfaces"
        | "GetPrivateIP"
        | "GetPrivateIPs"
        | "GetPublicIP"
        | "GetPublicIPs" => &[],
        "GetInterfaceIP" | "GetInterfaceIPs" => &[Str],
        "sort" | "unique" => &[Str, Addrs],
        "include" | "exclude" | "join" | "math" => &[Str, Str, Addrs],
        "attr" => &[Str, Any],
        "limit" => &[Uint, Addrs],
        "offset" => &[Int, Addrs],
        _ => return None,
    })
}

/// Runs function `name` on arguments already checked against its signature.
fn call(name: &str, args: Vec<Val>, host: &Host) -> Result<Val, String> {
    let s = |i: usize| match &args[i] {
        Val::Str(s) => s.as_str(),
        _ => "",
    };
    let int = |i: usize| match &args[i] {
        Val::Int(n) => *n,
        _ => 0,
    };
    let addrs = |i: usize| match &args[i] {
        Val::Addrs(a) => a.as_slice(),
        _ => &[],
    };
    Ok(match name {
        "GetAllInterfaces" => Val::Addrs(host.all.clone()),
        "GetDefaultInterfaces" => Val::Addrs(host.default_interfaces()?),
        "GetPrivateInterfaces" => Val::Addrs(host.scoped_interfaces(true)),
        "GetPublicInterfaces" => Val::Addrs(host.scoped_interfaces(false)),
        "GetPrivateIP" | "GetPublicIP" => {
            let addrs = host.scoped_interfaces(name == "GetPrivateIP");
            Val::Str(
                addrs
                    .first()
                    .map(|a| a.prefix.ip_string())
                    .unwrap_or_default(),
            )
        }
        "GetPrivateIPs" => Val::Str(host.scoped_ips(true)),
        "GetPublicIPs" => Val::Str(host.scoped_ips(false)),
        "GetInterfaceIP" => Val::Str(host.interface_ips(s(0), true)?),
        "GetInterfaceIPs" => Val::Str(host.interface_ips(s(0), false)?),
        "sort" => Val::Addrs(filters::sort(host, s(0), addrs(1))?),
        "unique" => Val::Addrs(filters::unique(s(0), addrs(1))?),
        "include" | "exclude" => {
            let (yes, no) = filters::select(s(0), s(1), addrs(2)).map_err(|e| {
                if e.is_empty() {
                    format!("invalid {name} selector {:?}", s(0))
                } else {
                    e
                }
            })?;
            Val::Addrs(if name == "include" { yes } else { no })
        }
        "join" => {
            let parts = addrs(2)
                .iter()
                .map(|a| a.attr(s(0)))
                .collect::<Result<Vec<_>, _>>()?;
            Val::Str(parts.join(s(1)))
        }
        "math" => Val::Addrs(filters::math(s(0), s(1), addrs(2))?),
        "attr" => match &args[1] {
            Val::Addrs(a) => match a.first() {
                Some(a) => Val::Str(a.attr(s(0))?),
                None => Val::Str(String::new()),
            },
            other => {
                return Err(format!(
                    "unable to obtain attribute {} from type {} ({})",
                    s(0),
                    other.go_type(),
                    print(other)
                ));
            }
        },
        "limit" => {
            let a = addrs(1);
            let n = usize::try_from(int(0)).unwrap_or(usize::MAX).min(a.len());
            Val::Addrs(a[..n].to_vec())
        }
        "offset" => Val::Addrs(filters::offset(int(0), addrs(1))?),
        _ => unreachable!("parse admits only functions with a signature"),
    })
}

fn eval_pipeline(p: &Pipeline, host: &Host, text: &str) -> Result<Val, String> {
    let mut piped: Option<Val> = None;
    for cmd in p {
        piped = Some(eval_command(cmd, piped.take(), host, text)?);
    }
    Ok(piped.expect("a pipeline has a command"))
}

fn eval_command(cmd: &Command, piped: Option<Val>, host: &Host, text: &str) -> Result<Val, String> {
    let at = |msg: String| {
        let context = show_command(cmd);
        let context = if context.len() > 20 {
            let cut = (0..=20)
                .rev()
                .find(|i| context.is_char_boundary(*i))
                .unwrap_or(0);
            format!("{}...", &context[..cut])
        } else {
            context
        };
        let before = &text[..cmd.pos];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => cmd.pos - nl - 1,
            None => cmd.pos,
        };
        format!(
            "template: {TEMPLATE_NAME}:{line}:{col}: executing \"{TEMPLATE_NAME}\" at <{context}>: {msg}"
        )
    };
    let (first, rest) = cmd.args.split_first().expect("a command has an argument");
    let name = match first {
        Arg::Func(name) => name,
        other => {
            if !rest.is_empty() || piped.is_some() {
                return Err(at(format!(
                    "can't give argument to non-function {}",
                    other.show()
                )));
            }
            return eval_arg(other, host, text);
        }
    };
    let params = signature(name).expect("parse admits only known functions");
    let given = rest.len() + usize::from(piped.is_some());
    if given != params.len() {
        return Err(at(format!(
            "wrong number of args for {name}: want {} got {given}",
            params.len()
        )));
    }
    let mut args = Vec::with_capacity(params.len());
    for (arg, param) in rest.iter().zip(params) {
        args.push(literal_arg(arg, *param, host, text).map_err(&at)?);
    }
    if let Some(v) = piped {
        let param = params[params.len() - 1];
        if !fits(&v, param) {
            return Err(at(format!(
                "wrong type for value; expected {}; got {}",
                param_type(param),
                v.go_type()
            )));
        }
        args.push(v);
    }
    call(name, args, host).map_err(|e| at(format!("error calling {name}: {e}")))
}

fn param_type(p: Param) -> &'static str {
    match p {
        Param::Str => "string",
        Param::Int => "int",
        Param::Uint => "uint",
        Param::Addrs => "sockaddr.IfAddrs",
        Param::Any => "interface {}",
    }
}

fn fits(v: &Val, p: Param) -> bool {
    matches!(
        (v, p),
        (_, Param::Any)
            | (Val::Str(_), Param::Str)
            | (Val::Int(_), Param::Int)
            | (Val::Addrs(_), Param::Addrs)
    )
}

/// An argument written in the command, converted as text/template converts
/// constants to the parameter's type.
fn literal_arg(arg: &Arg, param: Param, host: &Host, text: &str) -> Result<Val, String> {
    match (arg, param) {
        (Arg::Str(s, _), Param::Str | Param::Any) => Ok(Val::Str(s.clone())),
        (Arg::Int(n, _), Param::Int | Param::Any) => Ok(Val::Int(*n)),
        (Arg::Int(n, _), Param::Uint) if *n >= 0 => Ok(Val::Int(*n)),
        (Arg::Dot | Arg::Func(_) | Arg::Pipe(_), _) => {
            let v = eval_arg(arg, host, text)?;
            if fits(&v, param) || matches!((&v, param), (Val::Int(n), Param::Uint) if *n >= 0) {
                Ok(v)
            } else {
                Err(format!(
                    "wrong type for value; expected {}; got {}",
                    param_type(param),
                    v.go_type()
                ))
            }
        }
        (other, p) => {
            let want = match p {
                Param::Str => "string",
                Param::Int => "integer",
                Param::Uint => "unsigned integer",
                Param::Addrs => "sockaddr.IfAddrs",
                Param::Any => "value",
            };
            Err(format!("expected {want}; found {}", other.show()))
        }
    }
}

fn eval_arg(arg: &Arg, host: &Host, text: &str) -> Result<Val, String> {
    match arg {
        Arg::Str(s, _) => Ok(Val::Str(s.clone())),
        Arg::Int(n, _) => Ok(Val::Int(*n)),
        Arg::Dot => Ok(Val::Addrs(host.all.clone())),
        Arg::Func(name) => {
            let cmd = Command {
                pos: 0,
                args: vec![Arg::Func(name.clone())],
            };
            eval_command(&cmd, None, host, text)
        }
        Arg::Pipe(p) => eval_pipeline(p, host, text),
    }
}

// ---- lexing and parsing ----

/// Parse error: the line and Go's message.
type ParseError = (usize, String);

fn parse(text: &str) -> Result<Vec<Node>, ParseError> {
    let mut nodes = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{").map(|i| i + rest) {
        let mut lit = &text[rest..open];
        let mut start = open + 2;
        if text[start..].starts_with("- ") || text[start..].starts_with("-\t") {
            lit = lit.trim_end();
            start += 1;
        }
        if !lit.is_empty() {
            nodes.push(Node::Text(lit.to_string()));
        }
        let mut p = Parser { text, pos: start };
        let line = || 1 + text[..open].matches('\n').count();
        let trimmed = text[p.pos..].trim_start();
        if trimmed.starts_with("/*") {
            let end = text[p.pos..]
                .find("*/")
                .map(|i| i + p.pos + 2)
                .ok_or((line(), "unclosed comment".to_string()))?;
            p.pos = end;
            let (close, trim) = p.close().map_err(|e| (line(), e))?;
            rest = close;
            if trim {
                rest += text[rest..].len() - text[rest..].trim_start().len();
            }
            continue;
        }
        let pipe = p.pipeline(true).map_err(|e| (line(), e))?;
        let (close, trim) = p.close().map_err(|e| (line(), e))?;
        nodes.push(Node::Action(pipe));
        rest = close;
        if trim {
            rest += text[rest..].len() - text[rest..].trim_start().len();
        }
    }
    if rest < text.len() {
        nodes.push(Node::Text(text[rest..].to_string()));
    }
    Ok(nodes)
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// At `}}` or ` -}}`: the offset after it and whether it trims.
    fn close(&mut self) -> Result<(usize, bool), String> {
        self.skip_space();
        let rest = &self.text[self.pos..];
        if rest.starts_with("-}}") && self.text[..self.pos].ends_with(char::is_whitespace) {
            Ok((self.pos + 3, true))
        } else if rest.starts_with("}}") {
            Ok((self.pos + 2, false))
        } else if rest.is_empty() {
            Err("unclosed action".into())
        } else {
            Err(format!(
                "unexpected {:?} in command",
                rest.chars().next().unwrap_or(' ')
            ))
        }
    }

    fn at_end(&self, in_action: bool) -> bool {
        let rest = &self.text[self.pos..];
        rest.is_empty()
            || if in_action {
                rest.starts_with("}}") || rest.starts_with("-}}")
            } else {
                rest.starts_with(')')
            }
    }

    fn pipeline(&mut self, in_action: bool) -> Result<Pipeline, String> {
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            let pos = self.pos;
            let mut args = Vec::new();
            loop {
                self.skip_space();
                if self.at_end(in_action) || self.text[self.pos..].starts_with('|') {
                    break;
                }
                args.push(self.arg()?);
            }
            if args.is_empty() {
                return Err("missing value for command".into());
            }
            cmds.push(Command { pos, args });
            if self.text[self.pos..].starts_with('|') {
                self.pos += 1;
                continue;
            }
            return Ok(cmds);
        }
    }

    fn arg(&mut self) -> Result<Arg, String> {
        let rest = &self.text[self.pos..];
        let c = rest.chars().next().unwrap_or(' ');
        match c {
            '"' => {
                let (s, len) = quoted(rest)?;
                self.pos += len;
                Ok(Arg::Str(s, rest[..len].to_string()))
            }
            '`' => {
                let end = rest[1..]
                    .find('`')
                    .ok_or("unterminated raw quoted string")?;
                self.pos += end + 2;
                Ok(Arg::Str(
                    rest[1..=end].to_string(),
                    rest[..end + 2].to_string(),
                ))
            }
            '(' => {
                self.pos += 1;
                let p = self.pipeline(false)?;
                self.skip_space();
                if !self.text[self.pos..].starts_with(')') {
                    return Err("unclosed left paren".into());
                }
                self.pos += 1;
                Ok(Arg::Pipe(p))
            }
            '.' if !rest[1..].starts_with(|c: char| c.is_alphanumeric() || c == '_') => {
                self.pos += 1;
                Ok(Arg::Dot)
            }
            '-' | '+' | '0'..='9' => {
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "+-._".contains(c)))
                    .unwrap_or(rest.len());
                let raw = &rest[..len];
                let n: i64 = raw
                    .parse()
                    .map_err(|_| format!("bad number syntax: {:?}", raw))?;
                self.pos += len;
                Ok(Arg::Int(n, raw.to_string()))
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let name = &rest[..len];
                self.pos += len;
                if signature(name).is_none() {
                    return Err(format!("function {name:?} not defined"));
                }
                Ok(Arg::Func(name.to_string()))
            }
            other => Err(format!("unexpected {other:?} in command")),
        }
    }
}

/// A Go double-quoted string at the start of `s`: its value and length.
fn quoted(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => break,
            '\\' => {
                let (_, e) = chars.next().ok_or("unterminated quoted string")?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    _ => return Err("invalid syntax".into()),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}
