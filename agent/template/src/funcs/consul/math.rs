//! consul-template's arithmetic, hashes and HMAC.

use crate::builtins::{hex, hmac_sha256, math};
use crate::funcs::{Call, Def, FResult, def, nargs, str_args};
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("add", arithmetic),
    def("subtract", arithmetic),
    def("multiply", arithmetic),
    def("divide", arithmetic),
    def("modulo", arithmetic),
    def("minimum", arithmetic),
    def("maximum", arithmetic),
    def("sha256Hex", |c| {
        use sha2::Digest as _;
        let a = str_args(c.name, &c.args, 1)?;
        Ok(Value::str(&hex(&sha2::Sha256::digest(a[0].as_bytes()))))
    }),
    def("md5sum", |c| {
        use md5::Digest as _;
        let a = str_args(c.name, &c.args, 1)?;
        Ok(Value::str(&hex(&md5::Md5::digest(a[0].as_bytes()))))
    }),
    def("hmacSHA256Hex", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        Ok(Value::str(&hex(&hmac_sha256(
            a[1].as_bytes(),
            a[0].as_bytes(),
        ))))
    }),
];

fn arithmetic(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    // consul-template takes (b, a) so that `a | subtract b` reads naturally.
    math(c.name, &c.args[1], &c.args[0])
}
