//! The evaluator: walks the tree with Go `text/template` semantics
//! (`missingkey=zero` or `=error`, pipelines, variables, control flow).

use std::collections::BTreeMap;

use crate::funcs::{self, Call, Host, Impl};
use crate::limits::{MAX_ITERATIONS, MAX_OUTPUT, MAX_TEMPLATE_DEPTH};
use crate::parse::{Arg, Command, Control, Node, Number, Pipe};
use crate::value::Value;
use crate::world::{Dependency, Environment, FileWrite};
use crate::{RenderOptions, Template};

/// An execution error: a message without secret values, and where.
pub(crate) struct ExecError {
    pub pos: usize,
    pub message: String,
}

pub(crate) type EResult<T> = Result<T, ExecError>;

pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct State<'a> {
    pub tmpl: &'a Template,
    pub env: &'a dyn Environment,
    pub opts: &'a RenderOptions,
    vars: Vec<(String, Value)>,
    depth: usize,
    iterations: u64,
    pub pos: usize,
    pub dependencies: Vec<Dependency>,
    pub missing: Vec<Dependency>,
    pub file_writes: Vec<FileWrite>,
    /// The `scratch` store, fresh for every render as in consul-template.
    scratch: BTreeMap<String, Value>,
}

impl<'a> State<'a> {
    pub fn new(tmpl: &'a Template, env: &'a dyn Environment, opts: &'a RenderOptions) -> Self {
        State {
            tmpl,
            env,
            opts,
            vars: vec![("$".into(), Value::Nil)],
            depth: 0,
            iterations: 0,
            pos: 0,
            dependencies: Vec::new(),
            missing: Vec::new(),
            file_writes: Vec::new(),
            scratch: BTreeMap::new(),
        }
    }

    pub fn err(&self, message: impl Into<String>) -> ExecError {
        ExecError {
            pos: self.pos,
            message: message.into(),
        }
    }

    /// Records a dependency; returns what the environment knows about it.
    pub fn use_dependency(&mut self, dep: Dependency) -> Option<serde_json::Value> {
        if !self.dependencies.contains(&dep) {
            self.dependencies.push(dep.clone());
        }
        let found = self.env.lookup(&dep);
        if found.is_none() && !self.missing.contains(&dep) {
            self.missing.push(dep);
        }
        found
    }

    pub fn walk_list(&mut self, dot: &Value, nodes: &[Node], out: &mut Vec<u8>) -> EResult<Flow> {
        for n in nodes {
            match self.walk(dot, n, out)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node, out: &mut Vec<u8>) -> EResult<Flow> {
        match node {
            Node::Text(t) => out.extend_from_slice(t.as_bytes()),
            Node::Action(pipe) => {
                let v = self.pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    v.print_action_bytes(out);
                }
                if out.len() > MAX_OUTPUT {
                    return Err(self.err("rendered output exceeds 64 MiB"));
                }
            }
            Node::If(c) => return self.if_with(dot, c, out, false),
            Node::With(c) => return self.if_with(dot, c, out, true),
            Node::Range(c) => return self.range(dot, c, out),
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { pos, name, pipe } => {
                self.pos = *pos;
                let new_dot = match pipe {
                    Some(p) => self.pipeline(dot, p)?,
                    None => Value::Nil,
                };
                self.exec_named(name, &new_dot, out)?;
            }
        }
        Ok(Flow::Normal)
    }

    /// Runs a `define`d template with its own variable scope.
    pub fn exec_named(&mut self, name: &str, dot: &Value, out: &mut Vec<u8>) -> EResult<()> {
        let tmpl = self.tmpl;
        let Some(body) = tmpl.defines.get(name) else {
            return Err(self.err(format!("no such template {name:?}")));
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(self.err("exceeded maximum template depth"));
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.vars, vec![("$".into(), dot.clone())]);
        let r = self.walk_list(dot, body, out);
        self.vars = saved;
        self.depth -= 1;
        r.map(|_| ())
    }

    fn if_with(
        &mut self,
        dot: &Value,
        c: &Control,
        out: &mut Vec<u8>,
        with: bool,
    ) -> EResult<Flow> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &c.pipe)?;
        let r = if v.is_true() {
            let d = if with { &v } else { dot };
            self.walk_list(d, &c.list, out)
        } else if let Some(e) = &c.else_list {
            self.walk_list(dot, e, out)
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        r
    }

    fn range(&mut self, dot: &Value, c: &Control, out: &mut Vec<u8>) -> EResult<Flow> {
        let mark = self.vars.len();
        // The range pipeline's declarations name the loop variables, not its result.
        let pipe_pos = c.pipe.pos;
        let items: Vec<(Value, Value)> = {
            let v = self.pipeline_value(dot, &c.pipe)?;
            for d in &c.pipe.decl {
                if !c.pipe.is_assign {
                    self.vars.push((d.clone(), Value::Nil));
                }
            }
            self.pos = pipe_pos;
            range_items(&v).map_err(|m| self.err(m))?
        };
        let decl = &c.pipe.decl;
        let mut r = Ok(Flow::Normal);
        if let (true, Some(e)) = (items.is_empty(), &c.else_list) {
            r = self.walk_list(dot, e, out);
        }
        for (k, v) in items {
            self.iterations += 1;
            if self.iterations > MAX_ITERATIONS {
                r = Err(self.err("range: too many iterations"));
                break;
            }
            match decl.len() {
                1 => self.set_var(&decl[0], v.clone()),
                2 => {
                    self.set_var(&decl[0], k);
                    self.set_var(&decl[1], v.clone());
                }
                _ => {}
            }
            let inner = self.vars.len();
            let step = self.walk_list(&v, &c.list, out);
            self.vars.truncate(inner);
            match step {
                Ok(Flow::Break) => break,
                Ok(_) => {}
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        self.vars.truncate(mark);
        r.map(|f| match f {
            Flow::Normal => Flow::Normal,
            // break/continue never escape their range.
            _ => Flow::Normal,
        })
    }

    fn set_var(&mut self, name: &str, v: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = v;
        }
    }

    fn var(&self, name: &str) -> Value {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Nil)
    }

    /// The pipeline's value, without binding its declared variables.
    fn pipeline_value(&mut self, dot: &Value, pipe: &Pipe) -> EResult<Value> {
        self.pos = pipe.pos;
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        Ok(value.unwrap_or(Value::Nil))
    }

    pub fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> EResult<Value> {
        let value = self.pipeline_value(dot, pipe)?;
        for d in &pipe.decl {
            if pipe.is_assign {
                self.set_var(d, value.clone());
            } else {
                self.vars.push((d.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(&mut self, dot: &Value, cmd: &Command, final_: Option<Value>) -> EResult<Value> {
        self.pos = cmd.pos;
        let first = &cmd.args[0];
        if let Arg::Func(name) = first {
            return self.call(dot, name, &cmd.args[1..], final_);
        }
        if cmd.args.len() > 1 || final_.is_some() {
            return self.method_call(dot, first, &cmd.args[1..], final_);
        }
        self.arg(dot, first)
    }

    /// `recv.Method ARGS...`: only `scratch` has methods; any other chain
    /// with arguments is Go's "can't give argument to non-function".
    fn method_call(
        &mut self,
        dot: &Value,
        first: &Arg,
        args: &[Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        let not_a_function = |st: &Self| Err(st.err("can't give argument to non-function"));
        let (recv, method) = match first {
            Arg::Chain(p, fields) if !fields.is_empty() => {
                let base = self.pipeline(dot, p)?;
                let (last, init) = fields.split_last().expect("not empty");
                (self.field_chain(base, init, false)?, last)
            }
            Arg::Var(v, fields) if !fields.is_empty() => {
                let base = self.var(v);
                let (last, init) = fields.split_last().expect("not empty");
                (self.field_chain(base, init, false)?, last)
            }
            Arg::Field(fields) if !fields.is_empty() => {
                let (last, init) = fields.split_last().expect("not empty");
                (self.field_chain(dot.clone(), init, true)?, last)
            }
            _ => return not_a_function(self),
        };
        if !funcs::consul::scratch::is_scratch(&recv) {
            return not_a_function(self);
        }
        let pos = self.pos;
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        vals.extend(final_);
        self.pos = pos;
        self.scratch_method(method, &vals)
    }

    fn scratch_method(&mut self, method: &str, args: &[Value]) -> EResult<Value> {
        match funcs::consul::scratch::method(&mut self.scratch, method, args) {
            Ok(v) => Ok(v),
            Err(Some(m)) => Err(self.err(format!("error calling {method}: {m}"))),
            Err(None) => Err(self.err(format!(
                "can't evaluate field {method} in type *template.Scratch"
            ))),
        }
    }

    fn call(
        &mut self,
        dot: &Value,
        name: &str,
        args: &[Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        let Some(def) = funcs::lookup(name) else {
            // The parser refuses unknown names; this is only reachable from a hand-built tree.
            return Err(self.err(format!("function {name:?} not defined")));
        };
        if self.opts.function_denylist.iter().any(|d| d == name) {
            return Err(self.err(format!("error calling {name}: function is disabled")));
        }
        let func = match def.imp {
            Impl::Eager(func) => func,
            Impl::ShortCircuit { stop_at } => {
                return self.short_circuit(dot, name, stop_at, args, final_);
            }
        };
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        if let Some(f) = final_ {
            vals.push(f);
        }
        let pos = self.pos;
        let mut call = Call {
            name: def.name,
            args: vals,
            host: self,
        };
        let r = func(&mut call).and_then(|v| match &v {
            Value::Str(s) if s.len() > MAX_OUTPUT => Err("result exceeds 64 MiB".to_string()),
            _ => Ok(v),
        });
        self.pos = pos;
        r.map_err(|m| ExecError {
            pos,
            message: format!("error calling {name}: {m}"),
        })
    }

    /// Go's `and`/`or`: operands are evaluated in order until one's truth is
    /// `stop_at`; the result is that operand, or the last one.
    fn short_circuit(
        &mut self,
        dot: &Value,
        name: &str,
        stop_at: bool,
        args: &[Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        let n = args.len() + usize::from(final_.is_some());
        if n == 0 {
            return Err(self.err(format!(
                "wrong number of args for {name}: want at least 1 got 0"
            )));
        }
        let mut last = Value::Nil;
        for a in args {
            last = self.arg(dot, a)?;
            if last.is_true() == stop_at {
                return Ok(last);
            }
        }
        if let Some(f) = final_ {
            last = f;
        }
        Ok(last)
    }

    fn arg(&mut self, dot: &Value, a: &Arg) -> EResult<Value> {
        match a {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Nil),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Str(s) => Ok(Value::str(s)),
            Arg::Number(Number::Int(i)) => Ok(Value::Int(*i)),
            Arg::Number(Number::Float(f)) => Ok(Value::Float(*f)),
            Arg::Field(fields) => self.field_chain(dot.clone(), fields, true),
            Arg::Var(v, fields) => {
                let base = self.var(v);
                self.field_chain(base, fields, false)
            }
            Arg::Chain(p, fields) => {
                let base = self.pipeline(dot, p)?;
                self.field_chain(base, fields, false)
            }
            Arg::Pipe(p) => self.pipeline(dot, p),
            Arg::Func(name) => self.call(dot, name, &[], None),
        }
    }

    /// Follows `.A.B.C` from `base`. A nil *in the middle* of a chain is an
    /// error (Go: "nil pointer evaluating interface {}.B"); a nil base (no
    /// data at all) reads as no value.
    fn field_chain(&mut self, base: Value, fields: &[String], _from_dot: bool) -> EResult<Value> {
        let mut cur = base;
        let mut nil_from_map = false;
        for f in fields {
            if nil_from_map {
                return Err(self.err(format!("nil pointer evaluating interface {{}}.{f}")));
            }
            let (next, was_nil_in_map) = self.field(&cur, f)?;
            cur = next;
            nil_from_map = was_nil_in_map;
        }
        Ok(cur)
    }

    /// One field step; the flag says the result is a nil held in a map.
    fn field(&mut self, recv: &Value, name: &str) -> EResult<(Value, bool)> {
        match recv {
            Value::Nil => {
                if self.opts.error_on_missing_key {
                    return Err(self.err(format!("nil data; no entry for key {name:?}")));
                }
                Ok((Value::Nil, false))
            }
            Value::Map(m) => match m.get(name) {
                Some(v) => Ok((v.clone(), matches!(v, Value::Nil))),
                None if self.opts.error_on_missing_key => {
                    Err(self.err(format!("map has no entry for key {name:?}")))
                }
                None => Ok((Value::Nil, true)),
            },
            Value::StrMap(m) => match m.get(name) {
                Some(v) => Ok((Value::str(v), false)),
                None if self.opts.error_on_missing_key => {
                    Err(self.err(format!("map has no entry for key {name:?}")))
                }
                None => Ok((Value::str(""), false)),
            },
            Value::Struct(_) if funcs::consul::scratch::is_scratch(recv) => {
                Ok((self.scratch_method(name, &[])?, false))
            }
            Value::Struct(s) => {
                if s.type_name == "dependency.PemEncoded" && name == "Data" {
                    return Ok((recv.clone(), false));
                }
                match s.field(name) {
                    Some(v) => Ok((v.clone(), false)),
                    None => Err(self.err(format!(
                        "can't evaluate field {name} in type {}",
                        s.type_name
                    ))),
                }
            }
            Value::NilPtr(t) => Err(self.err(format!("nil pointer evaluating {t}.{name}"))),
            other => Err(self.err(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            ))),
        }
    }
}

/// The (key, element) pairs `range` visits: maps in sorted key order.
fn range_items(v: &Value) -> Result<Vec<(Value, Value)>, String> {
    Ok(match v {
        Value::Nil => Vec::new(),
        Value::List(l) => l
            .iter()
            .enumerate()
            .map(|(i, e)| (Value::Int(i as i64), e.clone()))
            .collect(),
        Value::Strings(l) => l
            .iter()
            .flat_map(|l| l.iter())
            .enumerate()
            .map(|(i, e)| (Value::Int(i as i64), Value::str(e)))
            .collect(),
        Value::Map(m) => m.iter().map(|(k, e)| (Value::str(k), e.clone())).collect(),
        Value::StrMap(m) => m
            .iter()
            .map(|(k, e)| (Value::str(k), Value::str(e)))
            .collect(),
        Value::Int(n) | Value::Int64(n) => {
            if *n > MAX_ITERATIONS as i64 {
                return Err("range: too many iterations".into());
            }
            (0..(*n).max(0))
                .map(|i| {
                    let e = if matches!(v, Value::Int64(_)) {
                        Value::Int64(i)
                    } else {
                        Value::Int(i)
                    };
                    (e.clone(), e)
                })
                .collect()
        }
        other => return Err(format!("range can't iterate over {}", other.type_name())),
    })
}

impl Host for State<'_> {
    fn use_dependency(&mut self, dep: Dependency) -> Option<serde_json::Value> {
        State::use_dependency(self, dep)
    }

    fn environment(&self) -> &dyn Environment {
        self.env
    }

    fn sandbox_path(&self) -> Option<&str> {
        self.opts.sandbox_path.as_deref().filter(|s| !s.is_empty())
    }

    fn execute_template(&mut self, name: &str, dot: &Value) -> Result<Value, String> {
        let mut out = Vec::new();
        self.exec_named(name, dot, &mut out)
            .map_err(|e| e.message)?;
        Ok(Value::from_bytes(out))
    }

    fn write_file(&mut self, write: FileWrite) {
        self.file_writes.push(write);
    }
}
