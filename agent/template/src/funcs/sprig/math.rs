//! Sprig's math functions (`numeric.go` and the arithmetic entries of
//! `functions.go`). Integer functions convert with `cast.ToInt64` and wrap
//! around as Go's `int64` does; the `*f` functions go through
//! `shopspring/decimal` (exact sums and products of the shortest decimal form
//! of each float, quotients rounded half away from zero to 16 places), which
//! is why `addf 0.1 0.2` is `0.3`.

use num_bigint::BigInt;
use num_traits::{Signed, Zero};

use super::convert::{cast_float as to_float64, cast_int as to_int64};
use super::lists::list;
use crate::funcs::{Call, Def, FResult, def, nargs, want_int};
use crate::limits::MAX_ITERATIONS;
use crate::value::{Value, format_float_g};

pub(super) const FUNCS: &[Def] = &[
    def("sprig_add1", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::Int64(to_int64(&c.args[0]).wrapping_add(1)))
    }),
    def("sprig_add", |c| {
        let sum = c.args.iter().fold(0i64, |a, b| a.wrapping_add(to_int64(b)));
        Ok(Value::Int64(sum))
    }),
    def("sprig_sub", |c| int_pair(c, |a, b| Ok(a.wrapping_sub(b)))),
    def("sprig_div", |c| {
        int_pair(c, |a, b| {
            a.checked_div(b)
                .or_else(|| (b == -1).then_some(a.wrapping_neg()))
                .ok_or_else(divide_by_zero)
        })
    }),
    def("sprig_mod", |c| {
        int_pair(c, |a, b| {
            a.checked_rem(b)
                .or_else(|| (b == -1).then_some(0))
                .ok_or_else(divide_by_zero)
        })
    }),
    def("sprig_mul", |c| {
        at_least(c, 1)?;
        let product = c.args.iter().fold(1i64, |a, b| a.wrapping_mul(to_int64(b)));
        Ok(Value::Int64(product))
    }),
    def("sprig_randInt", rand_int),
    def("sprig_add1f", |c| {
        nargs(c.name, &c.args, 1)?;
        decimal_op(&c.args[0], &[Value::Int(1)], Decimal::add)
    }),
    def("sprig_addf", |c| {
        decimal_op(&Value::Float(0.0), &c.args, Decimal::add)
    }),
    def("sprig_subf", |c| decimal_fold(c, Decimal::sub)),
    def("sprig_divf", |c| decimal_fold(c, Decimal::div)),
    def("sprig_mulf", |c| decimal_fold(c, Decimal::mul)),
    def("sprig_biggest", |c| int_extreme(c, |a, b| b > a)),
    def("sprig_max", |c| int_extreme(c, |a, b| b > a)),
    def("sprig_min", |c| int_extreme(c, |a, b| b < a)),
    def("sprig_maxf", |c| float_extreme(c, go_max)),
    def("sprig_minf", |c| float_extreme(c, go_min)),
    def("sprig_ceil", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::Float(to_float64(&c.args[0]).ceil()))
    }),
    def("sprig_floor", |c| {
        nargs(c.name, &c.args, 1)?;
        Ok(Value::Float(to_float64(&c.args[0]).floor()))
    }),
    def("sprig_round", round),
    def("sprig_seq", seq),
    def("sprig_until", |c| {
        nargs(c.name, &c.args, 1)?;
        let count = want_int(&c.args[0])?;
        ints(until_step(0, count, if count < 0 { -1 } else { 1 })?)
    }),
    def("sprig_untilStep", |c| {
        nargs(c.name, &c.args, 3)?;
        let (start, stop, step) = (
            want_int(&c.args[0])?,
            want_int(&c.args[1])?,
            want_int(&c.args[2])?,
        );
        ints(until_step(start, stop, step)?)
    }),
];

fn divide_by_zero() -> String {
    "runtime error: integer divide by zero".into()
}

fn at_least(c: &Call<'_>, want: usize) -> Result<(), String> {
    if c.args.len() < want {
        return Err(format!(
            "wrong number of args for {}: want at least {want} got {}",
            c.name,
            c.args.len()
        ));
    }
    Ok(())
}

fn int_pair(c: &mut Call<'_>, op: fn(i64, i64) -> Result<i64, String>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    Ok(Value::Int64(op(
        to_int64(&c.args[0]),
        to_int64(&c.args[1]),
    )?))
}

/// `max`/`min A B...` over `int64`: `replace(current, candidate)` decides.
fn int_extreme(c: &mut Call<'_>, replace: fn(i64, i64) -> bool) -> FResult {
    at_least(c, 1)?;
    let mut best = to_int64(&c.args[0]);
    for b in &c.args[1..] {
        let b = to_int64(b);
        if replace(best, b) {
            best = b;
        }
    }
    Ok(Value::Int64(best))
}

fn float_extreme(c: &mut Call<'_>, pick: fn(f64, f64) -> f64) -> FResult {
    at_least(c, 1)?;
    let first = to_float64(&c.args[0]);
    Ok(Value::Float(
        c.args[1..].iter().map(to_float64).fold(first, pick),
    ))
}

/// Go's `math.Max`: +Inf wins over NaN, NaN over everything else, +0 over -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins over NaN, NaN over everything else, -0 over +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// `randInt MIN MAX`: `rand.Intn(MAX-MIN) + MIN`.
fn rand_int(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 2)?;
    let (min, max) = (want_int(&c.args[0])?, want_int(&c.args[1])?);
    let span = max.wrapping_sub(min);
    if span <= 0 {
        return Err("invalid argument to Intn".into());
    }
    Ok(Value::Int(fastrand::i64(0..span).wrapping_add(min)))
}

/// `round VALUE PLACES [ROUND_ON]`: Sprig's own rounding (up when the
/// fraction of `VALUE × 10^PLACES` is at least ROUND_ON, default .5).
fn round(c: &mut Call<'_>) -> FResult {
    at_least(c, 2)?;
    let places = want_int(&c.args[1])?;
    let round_on = match c.args.get(2) {
        None => 0.5,
        Some(Value::Float(f)) => *f,
        Some(Value::Int(i)) => *i as f64,
        Some(other) => {
            return Err(format!(
                "wrong type for value; expected float64; got {}",
                other.type_name()
            ));
        }
    };
    let pow = 10f64.powf(places as f64);
    let digit = pow * to_float64(&c.args[0]);
    let fraction = digit - digit.trunc();
    let rounded = if fraction >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(rounded / pow))
}

/// Sprig's `untilStep`: counts from START towards STOP (excluded) by STEP;
/// empty when STEP does not lead there.
fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    let mut i = start;
    let going = |i: i64| if stop < start { i > stop } else { i < stop };
    if (stop < start && step >= 0) || (stop >= start && step <= 0) {
        return Ok(out);
    }
    while going(i) {
        if out.len() as u64 >= MAX_ITERATIONS {
            return Err("result exceeds 10000000 elements".into());
        }
        out.push(i);
        let Some(next) = i.checked_add(step) else {
            break;
        };
        i = next;
    }
    Ok(out)
}

fn ints(v: Vec<i64>) -> FResult {
    Ok(list(v.into_iter().map(Value::Int).collect()))
}

/// `seq [START [STEP]] END`: the numbers as a space-separated string.
fn seq(c: &mut Call<'_>) -> FResult {
    let p: Vec<i64> = c.args.iter().map(want_int).collect::<Result<_, _>>()?;
    let numbers = match p[..] {
        [end] => {
            let inc = if end < 1 { -1 } else { 1 };
            until_step(1, end.wrapping_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(start, end.wrapping_add(step), step)?
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && step > 0 {
                Vec::new()
            } else {
                until_step(start, end.wrapping_add(inc), step)?
            }
        }
        _ => Vec::new(),
    };
    let text: Vec<String> = numbers.iter().map(i64::to_string).collect();
    Ok(Value::str(&text.join(" ")))
}

/// `subf`/`divf`/`mulf A B...`.
fn decimal_fold(c: &mut Call<'_>, op: fn(Decimal, Decimal) -> Result<Decimal, String>) -> FResult {
    at_least(c, 1)?;
    decimal_op(&c.args[0], &c.args[1..], op)
}

/// Sprig's `execDecimalOp`: folds `op` over the decimal forms of the values.
fn decimal_op(
    first: &Value,
    rest: &[Value],
    op: fn(Decimal, Decimal) -> Result<Decimal, String>,
) -> FResult {
    let mut acc = Decimal::from_float(to_float64(first))?;
    for v in rest {
        acc = op(acc, Decimal::from_float(to_float64(v))?)?;
    }
    Ok(Value::Float(acc.to_f64()))
}

/// `mantissa × 10^exp`, as `shopspring/decimal` keeps numbers.
#[derive(Debug, Clone)]
struct Decimal {
    mantissa: BigInt,
    exp: i32,
}

/// Digits after the point a quotient keeps (`decimal.DivisionPrecision`).
const DIVISION_PRECISION: i32 = 16;

impl Decimal {
    /// `decimal.NewFromFloat`: the shortest decimal that reads back as `f`.
    fn from_float(f: f64) -> Result<Decimal, String> {
        if !f.is_finite() {
            return Err(format!(
                "Cannot create a Decimal from {}",
                format_float_g(f)
            ));
        }
        let text = format!("{f:e}");
        let (mant, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let fraction_digits = mant.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
        let digits: String = mant.chars().filter(|c| *c != '.').collect();
        let mantissa: BigInt = digits.parse().unwrap_or_default();
        Ok(Decimal {
            mantissa,
            exp: exp - fraction_digits,
        })
    }

    fn scaled(&self, exp: i32) -> BigInt {
        &self.mantissa * BigInt::from(10).pow((self.exp - exp) as u32)
    }

    fn add(self, other: Decimal) -> Result<Decimal, String> {
        let exp = self.exp.min(other.exp);
        Ok(Decimal {
            mantissa: self.scaled(exp) + other.scaled(exp),
            exp,
        })
    }

    fn sub(self, other: Decimal) -> Result<Decimal, String> {
        let exp = self.exp.min(other.exp);
        Ok(Decimal {
            mantissa: self.scaled(exp) - other.scaled(exp),
            exp,
        })
    }

    fn mul(self, other: Decimal) -> Result<Decimal, String> {
        Ok(Decimal {
            mantissa: self.mantissa * other.mantissa,
            exp: self.exp + other.exp,
        })
    }

    /// `Decimal.Div`: rounded half away from zero to 16 places.
    fn div(self, other: Decimal) -> Result<Decimal, String> {
        if other.mantissa.is_zero() {
            return Err("decimal division by 0".into());
        }
        let shift = self.exp - other.exp + DIVISION_PRECISION;
        let ten = BigInt::from(10);
        let (num, den) = if shift >= 0 {
            (self.mantissa * ten.pow(shift as u32), other.mantissa)
        } else {
            (self.mantissa, other.mantissa * ten.pow((-shift) as u32))
        };
        let quotient = &num / &den;
        let remainder = &num % &den;
        let mantissa = if remainder.abs() * 2 >= den.abs() {
            let away = if num.is_negative() != den.is_negative() {
                -1
            } else {
                1
            };
            quotient + away
        } else {
            quotient
        };
        Ok(Decimal {
            mantissa,
            exp: -DIVISION_PRECISION,
        })
    }

    /// The nearest `float64`.
    fn to_f64(&self) -> f64 {
        format!("{}e{}", self.mantissa, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn decimal_arithmetic_matches_sprig() {
        assert_eq!(
            render_text(r#"{{ sprig_addf 0.1 0.2 }} {{ sprig_subf 1 0.9 }} {{ sprig_divf 1 3 }} {{ sprig_mulf 1.1 3 }} {{ sprig_divf 1 7 }} {{ sprig_divf 22 7 }} {{ sprig_divf 1e-20 3 }} {{ sprig_mulf 123456789.123 1000 }} {{ sprig_addf 1e20 1 }}"#).unwrap(),
            "0.3 0.1 0.3333333333333333 3.3 0.1428571428571429 3.142857142857143 0 1.23456789123e+11 1e+20"
        );
        let err = render_text(r#"{{ sprig_divf 1 0 }}"#).unwrap_err();
        assert!(err.contains("decimal division by 0"), "{err}");
        let err = render_text(r#"{{ sprig_add1f "inf" }}"#).unwrap_err();
        assert!(err.contains("Cannot create a Decimal from +Inf"), "{err}");
    }

    #[test]
    fn integer_math_converts_like_cast_and_wraps() {
        assert_eq!(
            render_text(r#"{{ sprig_add 1 "2" "0x10" "010" 2.9 -2.9 true false nil "08" "1.0" " 3" "abc" }} {{ sprig_add1 "9223372036854775807" }} {{ sprig_add1 1e19 }} {{ sprig_div -7 2 }} {{ sprig_mod -7 3 }}"#).unwrap(),
            "29 -9223372036854775808 -9223372036854775807 -3 -1"
        );
        let err = render_text(r#"{{ sprig_div 1 0 }}"#).unwrap_err();
        assert!(err.contains("integer divide by zero"), "{err}");
    }

    #[test]
    fn sequences_match_sprig() {
        assert_eq!(
            render_text(r#"{{ sprig_seq 5 }}|{{ sprig_seq 5 2 }}|{{ sprig_seq 1 2 10 }}|{{ sprig_seq 10 -2 1 }}|{{ sprig_seq 0 }}|{{ sprig_seq }}|{{ sprig_until -3 }} {{ sprig_untilStep 10 0 -4 }} {{ sprig_untilStep 0 10 0 }}"#).unwrap(),
            "1 2 3 4 5|5 4 3 2|1 3 5 7 9|10 8 6 4 2|1 0||[0 -1 -2] [10 6 2] []"
        );
    }

    #[test]
    fn rounding_and_extremes_match_go() {
        assert_eq!(
            render_text(r#"{{ sprig_round 3.14159 2 }} {{ sprig_round 2.675 2 }} {{ sprig_round -2.5 0 }} {{ sprig_round 1234.5 -2 }} {{ sprig_round 0.5 0 0.6 }} {{ sprig_maxf "NaN" 1 }} {{ sprig_maxf 1 "inf" }} {{ sprig_minf "-inf" 1 }}"#).unwrap(),
            "3.14 2.68 -3 1200 0 NaN +Inf -Inf"
        );
        let n: i64 = render_text(r#"{{ sprig_randInt 5 8 }}"#)
            .unwrap()
            .parse()
            .unwrap();
        assert!((5..8).contains(&n), "{n}");
    }
}
