//! consul-template's `sockaddr ARGS...`: joins its arguments with spaces,
//! wraps them in `{{ }}` and renders that as a go-sockaddr template (a Go
//! template whose dot is every interface address of the host, with
//! go-sockaddr's functions).
//!
//! The go-sockaddr language is evaluated here by a small interpreter of its
//! own: text and `{{ pipeline }}` actions; a pipeline is commands joined by
//! `|`, a command a function with string or integer literals, `.` or a
//! parenthesized pipeline as arguments. Go's built-ins, variables and
//! control structures (`if`, `range`) are not offered: such a template fails
//! with an error instead of rendering something else.

mod addr;
mod filters;
mod lang;

#[cfg(test)]
mod tests;

use crate::funcs::{Call, Def, FResult, def, variadic_strs};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[def("sockaddr", sockaddr)];

fn sockaddr(c: &mut Call<'_>) -> FResult {
    let args = variadic_strs(&c.args)?;
    let text = format!("{{{{ {} }}}}", args.join(" "));
    let host = filters::Host::read(c.host.environment());
    lang::render(&text, &host).map(|s| Value::str(&s))
}
