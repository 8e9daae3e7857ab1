//! Sprig's `semver VERSION` and `semverCompare CONSTRAINT VERSION`, with the
//! rules of Masterminds/semver 3.4.0 (the version `bao` 2.7.2 behaves as), which differ
//! from Cargo's: `v` prefixes and short versions (`1.2`) are accepted, `x`
//! and `*` wildcards, `1.2 - 1.4` ranges, `,` or spaces for AND, `||` for
//! OR, and a prerelease version matches only an AND group that names a
//! prerelease somewhere.
//!
//! Parsing uses Masterminds' own regular expressions (with `\d` and `\s`
//! spelled as the ASCII classes Go gives them).
//!
//! `semver` returns a `*semver.Version` whose methods without arguments are
//! fields here (`.Major .Minor .Patch .Prerelease .Metadata .Original
//! .String`); methods that take a version (`.Compare`, `.LessThan`) are not
//! callable.

use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::OnceLock;

use regex::Regex;

use crate::funcs::{Def, def, str_args};
use crate::value::{Struct, Value};

pub(super) const FUNCS: &[Def] = &[
    def("sprig_semver", |c| {
        let s = str_args(c.name, &c.args, 1)?[0];
        Ok(version_value(&Version::parse(s)?))
    }),
    def("sprig_semverCompare", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        let constraints = parse_constraints(a[0])?;
        let v = Version::parse(a[1])?;
        Ok(Value::Bool(satisfies(&constraints, &v)))
    }),
];

const SPACE: &str = "[\\t\\n\\f\\r ]";

/// Masterminds' loose version pattern (`NewVersion` coerces: leading zeros
/// are accepted).
const VERSION: &str = r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$";

/// Masterminds' constraint-version pattern (nine groups).
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Patterns {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |p: String| Regex::new(&p.replace(r"\s", SPACE)).expect("semver pattern compiles");
        Patterns {
            version: re(VERSION.to_string()),
            constraint: re(format!(r"^\s*({OPS})\s*({CV})\s*$")),
            range: re(format!(r"\s*({CV})\s+-\s+({CV})\s*")),
            find: re(format!(r"({OPS})\s*({CV})")),
            valid: re(format!(
                r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
            )),
        }
    })
}

#[derive(Clone, Debug, PartialEq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
}

impl Version {
    /// Masterminds' `NewVersion` (its `coerceNewVersion`).
    fn parse(s: &str) -> Result<Version, String> {
        let m = patterns()
            .version
            .captures(s)
            .ok_or_else(|| "invalid semantic version".to_string())?;
        let num = |i: usize| -> Result<u64, String> {
            match m.get(i) {
                None => Ok(0),
                Some(g) => g.as_str().trim_start_matches('.').parse().map_err(|_| {
                    format!(
                        "error parsing version segment: strconv.ParseUint: parsing {:?}: value out of range",
                        g.as_str().trim_start_matches('.')
                    )
                }),
            }
        };
        let group = |i: usize| m.get(i).map_or("", |g| g.as_str()).to_string();
        let pre = group(5);
        // Numeric prerelease identifiers may not have leading zeros.
        if pre
            .split('.')
            .any(|p| p.len() > 1 && p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("version segment starts with 0".into());
        }
        Ok(Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre,
            metadata: group(8),
            original: s.to_string(),
        })
    }

    /// `major.minor.patch[-pre][+metadata]`.
    fn text(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            s.push('+');
            s.push_str(&self.metadata);
        }
        s
    }

    /// Precedence (metadata ignored; a prerelease sorts before its release).
    fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &o.pre),
            })
    }
}

/// Masterminds' `comparePrerelease`: dot-separated parts, numbers below
/// words, a missing part below any present one.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..pa.len().max(pb.len()) {
        let (s, o) = (
            pa.get(i).copied().unwrap_or(""),
            pb.get(i).copied().unwrap_or(""),
        );
        let d = if s == o {
            Ordering::Equal
        } else if s.is_empty() {
            Ordering::Less
        } else if o.is_empty() {
            Ordering::Greater
        } else {
            match (s.parse::<u64>(), o.parse::<u64>()) {
                (Err(_), Err(_)) => s.cmp(o),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                (Ok(x), Ok(y)) => {
                    if x > y {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
            }
        };
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

/// A `*semver.Version` as templates see it.
fn version_value(v: &Version) -> Value {
    Value::Struct(Rc::new(Struct {
        type_name: "*semver.Version",
        fields: vec![
            ("Major", Value::Uint(v.major)),
            ("Minor", Value::Uint(v.minor)),
            ("Patch", Value::Uint(v.patch)),
            ("Prerelease", Value::str(&v.pre)),
            ("Metadata", Value::str(&v.metadata)),
            ("Original", Value::str(&v.original)),
            ("String", Value::str(&v.text())),
        ],
    }))
}

/// Masterminds' `Constraints.Check`: some OR group whose constraints all
/// hold. A prerelease version is considered only by a group that names a
/// prerelease.
fn satisfies(groups: &[Vec<Constraint>], v: &Version) -> bool {
    groups.iter().any(|all| {
        let include_pre = all.iter().any(|c| !c.con.pre.is_empty());
        (v.pre.is_empty() || include_pre) && all.iter().all(|c| c.check(v))
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

struct Constraint {
    op: Op,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

/// Masterminds' `NewConstraint`: OR groups of AND-ed constraints.
fn parse_constraints(text: &str) -> Result<Vec<Vec<Constraint>>, String> {
    let p = patterns();
    // `A - B` ranges become `>= A, <= B`.
    let mut text = text.to_string();
    let ranges: Vec<(String, String, String)> = p
        .range
        .captures_iter(&text)
        .map(|m| (m[0].to_string(), m[1].to_string(), m[11].to_string()))
        .collect();
    for (whole, lo, hi) in ranges {
        text = text.replacen(&whole, &format!(">= {lo}, <= {hi} "), 1);
    }
    text.split("||")
        .map(|part| {
            if !p.valid.is_match(part) {
                return Err(format!("improper constraint: {part}"));
            }
            let found: Vec<&str> = p.find.find_iter(part).map(|m| m.as_str()).collect();
            let found = if found.is_empty() { vec![part] } else { found };
            found.into_iter().map(parse_constraint).collect()
        })
        .collect()
}

/// Masterminds' `parseConstraint`: wildcards and missing parts make it
/// "dirty" at the first loose position.
fn parse_constraint(s: &str) -> Result<Constraint, String> {
    let m = patterns()
        .constraint
        .captures(s)
        .ok_or_else(|| format!("improper constraint: {s}"))?;
    let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
    let op = match g(1) {
        "" | "=" => Op::TildeOrEqual,
        "!=" => Op::NotEqual,
        ">" => Op::Greater,
        "<" => Op::Less,
        ">=" | "=>" => Op::GreaterEqual,
        "<=" | "=<" => Op::LessEqual,
        "~" | "~>" => Op::Tilde,
        _ => Op::Caret,
    };
    let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let text = if is_x(major) || major.is_empty() {
        dirty = true;
        format!("0.0.0{pre}")
    } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
        dirty = true;
        minor_dirty = true;
        format!("{major}.0.0{pre}")
    } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{major}{minor}.0{pre}")
    } else {
        g(2).to_string()
    };
    let con = Version::parse(&text).map_err(|_| "constraint parser error".to_string())?;
    Ok(Constraint {
        op,
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

impl Constraint {
    /// Whether `v` satisfies this constraint (Masterminds' `constraint*`
    /// functions; the prerelease rule is applied per group by [`satisfies`]).
    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        let cmp = v.compare(c);
        match self.op {
            Op::NotEqual => self.not_equal(v),
            Op::Greater => {
                if !self.dirty {
                    return cmp == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                cmp == Ordering::Greater
            }
            Op::Less => cmp == Ordering::Less,
            Op::GreaterEqual => cmp != Ordering::Less,
            Op::LessEqual => {
                if !self.dirty {
                    return cmp != Ordering::Greater;
                }
                !(v.major > c.major
                    || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            Op::TildeOrEqual if !self.dirty => cmp == Ordering::Equal,
            Op::TildeOrEqual | Op::Tilde => {
                if cmp == Ordering::Less {
                    return false;
                }
                if c.major == 0
                    && c.minor == 0
                    && c.patch == 0
                    && !self.minor_dirty
                    && !self.patch_dirty
                {
                    return true;
                }
                v.major == c.major && (v.minor == c.minor || self.minor_dirty)
            }
            Op::Caret => {
                if cmp == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                c.patch == v.patch
            }
        }
    }

    /// Masterminds' `constraintNotEqual`.
    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.patch != v.patch && !self.patch_dirty {
                return true;
            }
            if self.patch_dirty {
                return (!v.pre.is_empty() || !c.pre.is_empty())
                    && compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
            }
        }
        v.compare(c) != Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: &str, v: &str) -> bool {
        satisfies(&parse_constraints(c).unwrap(), &Version::parse(v).unwrap())
    }

    #[test]
    fn masterminds_constraint_rules() {
        assert!(check("^1.2.0", "1.5.3"));
        assert!(!check("^1.2.0", "2.0.0"));
        assert!(check("~1.2.0", "1.2.9"));
        assert!(!check("~1.2.0", "1.3.0"));
        assert!(check(">=1.0, <2", "1.9.9"));
        assert!(check(">1.0 <1.5 || >=3", "3.1.0"));
        assert!(check("1.2.x", "1.2.7"));
        assert!(check("1.2 - 1.4.5", "1.4.5"));
        assert!(!check("1.2 - 1.4.5", "1.4.6"));
        assert!(!check(">=1.2.0", "1.3.0-beta"));
        assert!(check(">=1.2.0-0", "1.3.0-beta"));
        assert!(check("^0.2.3", "0.2.9"));
        assert!(!check("^0.2.3", "0.3.0"));
        assert!(check("<1.2.3-beta.10", "1.2.3-beta.2"));
        assert!(parse_constraints("nope").is_err());
        assert!(check(">=1.2.0-0 <2.0.0", "1.5.0-beta"));
        assert!(!check("!=1.2.3", "1.2.4-beta"));
        assert_eq!(Version::parse("01.2.3").unwrap().text(), "1.2.3");
        assert!(Version::parse("1.2.3-01").is_err());
        assert_eq!(Version::parse("v1.2").unwrap().text(), "1.2.0");
    }
}
