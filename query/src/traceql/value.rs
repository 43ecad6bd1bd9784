//! TraceQL values and their operators: comparisons across numeric types, nil semantics
//! (a missing attribute compares false to everything but `nil`), regexes fully anchored as
//! Tempo's are, and arithmetic that keeps durations durations.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

use lookout_store::model::span::{AttrValue, SpanKind, StatusCode};
use regex::Regex;

use super::ast::{BinaryOp, SpanKind as AstKind, SpanStatus, Static};

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// Nanoseconds.
    Duration(i64),
    Status(StatusCode),
    Kind(SpanKind),
}

impl<'a> Value<'a> {
    pub fn from_static(s: &'a Static) -> Value<'a> {
        match s {
            Static::Nil => Value::Nil,
            Static::Bool(b) => Value::Bool(*b),
            Static::Int(i) => Value::Int(*i),
            Static::Float(f) => Value::Float(*f),
            Static::Str(s) => Value::Str(Cow::Borrowed(s)),
            Static::Duration(d) => Value::Duration(*d),
            Static::Status(s) => Value::Status(match s {
                SpanStatus::Unset => StatusCode::Unset,
                SpanStatus::Ok => StatusCode::Ok,
                SpanStatus::Error => StatusCode::Error,
            }),
            Static::Kind(k) => Value::Kind(match k {
                AstKind::Unspecified => SpanKind::Unspecified,
                AstKind::Internal => SpanKind::Internal,
                AstKind::Server => SpanKind::Server,
                AstKind::Client => SpanKind::Client,
                AstKind::Producer => SpanKind::Producer,
                AstKind::Consumer => SpanKind::Consumer,
            }),
        }
    }

    /// An attribute's value; arrays, maps and bytes are not comparable in TraceQL and
    /// read as nil.
    pub fn from_attr(v: &'a AttrValue) -> Value<'a> {
        match v {
            AttrValue::Str(s) => Value::Str(Cow::Borrowed(s)),
            AttrValue::Bool(b) => Value::Bool(*b),
            AttrValue::Int(i) => Value::Int(*i),
            AttrValue::Float(f) => Value::Float(*f),
            _ => Value::Nil,
        }
    }

    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    fn number(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as Tempo's search results write it (a string).
    pub fn render(&self) -> String {
        match self {
            Value::Nil => "nil".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.to_string(),
            Value::Duration(d) => format!("{d}ns"),
            Value::Status(s) => status_name(*s).into(),
            Value::Kind(k) => kind_name(*k).into(),
        }
    }

    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Duration(d) => Value::Duration(d),
            Value::Status(s) => Value::Status(s),
            Value::Kind(k) => Value::Kind(k),
        }
    }
}

pub fn status_name(s: StatusCode) -> &'static str {
    match s {
        StatusCode::Unset => "unset",
        StatusCode::Ok => "ok",
        StatusCode::Error => "error",
    }
}

pub fn kind_name(k: SpanKind) -> &'static str {
    match k {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

/// Regexes of one query, compiled once each, anchored: `=~ "prod"` matches only `prod`.
#[derive(Default)]
pub struct Regexes {
    compiled: HashMap<String, Regex>,
}

impl Regexes {
    /// Compiles every pattern up front, so a bad one is a 400 before any span is read.
    pub fn compile(&mut self, pattern: &str) -> crate::Result<()> {
        if self.compiled.contains_key(pattern) {
            return Ok(());
        }
        let re = regex::RegexBuilder::new(&format!("^(?s:{pattern})$"))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| crate::Error::BadData(format!("invalid regex {pattern:?}: {e}")))?;
        self.compiled.insert(pattern.to_string(), re);
        Ok(())
    }

    fn is_match(&self, pattern: &str, s: &str) -> bool {
        self.compiled.get(pattern).is_some_and(|re| re.is_match(s))
    }
}

fn order(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Status(x), Value::Status(y)) => Some(x.cmp(y)),
        (Value::Kind(x), Value::Kind(y)) => Some(x.cmp(y)),
        _ => a.number()?.partial_cmp(&b.number()?),
    }
}

/// `a op b` for a comparison or logical operator.
pub fn compare(op: BinaryOp, a: &Value<'_>, b: &Value<'_>, regexes: &Regexes) -> Value<'static> {
    use BinaryOp::*;
    let r = match op {
        And => a.is_true() && b.is_true(),
        Or => a.is_true() || b.is_true(),
        // A missing value equals nothing and differs from nothing; the evaluator turns
        // `= nil` / `!= nil` into existence checks before it gets here.
        _ if matches!(a, Value::Nil) || matches!(b, Value::Nil) => {
            op == Eq && matches!(a, Value::Nil) && matches!(b, Value::Nil)
        }
        Eq => order(a, b) == Some(Ordering::Equal),
        Neq => order(a, b).is_some_and(|o| o != Ordering::Equal),
        Gt => order(a, b) == Some(Ordering::Greater),
        Gte => order(a, b).is_some_and(|o| o != Ordering::Less),
        Lt => order(a, b) == Some(Ordering::Less),
        Lte => order(a, b).is_some_and(|o| o != Ordering::Greater),
        Regex | NotRegex => match (a, b) {
            (Value::Str(s), Value::Str(p)) => regexes.is_match(p, s) == (op == Regex),
            _ => false,
        },
        _ => return arith(op, a, b),
    };
    Value::Bool(r)
}

/// `a op b` for an arithmetic operator; nil when the operands do not combine.
pub fn arith(op: BinaryOp, a: &Value<'_>, b: &Value<'_>) -> Value<'static> {
    use BinaryOp::*;
    let float = |x: f64, y: f64| -> f64 {
        match op {
            Add => x + y,
            Sub => x - y,
            Mul => x * y,
            Div => x / y,
            Mod => x % y,
            _ => x.powf(y),
        }
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => {
            let r = match op {
                Add => x.checked_add(*y),
                Sub => x.checked_sub(*y),
                Mul => x.checked_mul(*y),
                Div => x.checked_div(*y),
                Mod => x.checked_rem(*y),
                _ => u32::try_from(*y).ok().and_then(|e| x.checked_pow(e)),
            };
            r.map_or_else(|| Value::Float(float(*x as f64, *y as f64)), Value::Int)
        }
        (Value::Duration(x), Value::Duration(y)) if matches!(op, Add | Sub) => {
            Value::Duration(if op == Add {
                x.saturating_add(*y)
            } else {
                x.saturating_sub(*y)
            })
        }
        (Value::Duration(x), y) if matches!(op, Mul | Div) => match y.number() {
            Some(n) => Value::Duration(float(*x as f64, n) as i64),
            None => Value::Nil,
        },
        (y, Value::Duration(x)) if op == Mul => match y.number() {
            Some(n) => Value::Duration(float(*x as f64, n) as i64),
            None => Value::Nil,
        },
        _ => match (a.number(), b.number()) {
            (Some(x), Some(y)) => Value::Float(float(x, y)),
            _ => Value::Nil,
        },
    }
}
