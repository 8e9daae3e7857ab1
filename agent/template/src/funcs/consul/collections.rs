//! consul-template's membership tests and `loop`.

use std::rc::Rc;

use crate::builtins::contains_in;
use crate::funcs::{Call, Def, FResult, def, nargs, want_list};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("contains", |c| {
        nargs(c.name, &c.args, 2)?;
        Ok(Value::Bool(contains_in(&c.args[1], &c.args[0])))
    }),
    def("in", |c| {
        nargs(c.name, &c.args, 2)?;
        Ok(Value::Bool(contains_in(&c.args[0], &c.args[1])))
    }),
    def("containsAll", |c| contains_many(c, |found, n| found == n)),
    def("containsAny", |c| contains_many(c, |found, _| found > 0)),
    def("containsNone", |c| contains_many(c, |found, _| found == 0)),
    def("containsNotAll", |c| contains_many(c, |found, n| found < n)),
    def("loop", loop_fn),
];

/// `containsX NEEDLES HAY`: `decide(how many needles are in HAY, how many needles)`.
fn contains_many(c: &mut Call<'_>, decide: fn(usize, usize) -> bool) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let needles = want_list(&c.args[0])?;
    let found = needles
        .iter()
        .filter(|v| contains_in(&c.args[1], v))
        .count();
    Ok(Value::Bool(decide(found, needles.len())))
}

fn loop_fn(c: &mut Call<'_>) -> FResult {
    let to64 = |v: &Value| -> Result<i64, String> {
        match v {
            Value::Int(i) | Value::Int64(i) => Ok(*i),
            Value::Uint(u) => Ok(*u as i64),
            Value::Str(s) | Value::Number(s) => {
                if s.is_empty() {
                    Ok(0)
                } else {
                    s.parse()
                        .map_err(|_| "parseInt: invalid syntax".to_string())
                }
            }
            other => Err(format!("loop: bad argument type: {}", other.type_name())),
        }
    };
    let (start, stop) = match c.args.as_slice() {
        [n] => (0, to64(n)?),
        [a, b] => (to64(a)?, to64(b)?),
        _ => {
            return Err(format!(
                "loop: wrong number of arguments, expected 1 or 2, but got {}",
                c.args.len()
            ));
        }
    };
    if stop.saturating_sub(start) > 1_000_000 {
        return Err("loop: range too large".into());
    }
    Ok(Value::List(Rc::new(
        (start..stop).map(Value::Int64).collect(),
    )))
}
