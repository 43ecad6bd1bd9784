//! A recursive-descent parser from tokens to [`Query`], with Tempo's operator precedence:
//! `||` < `&&` < comparisons and structural operators < `+ -` < unary `! -` < `* / %` <
//! `^` (right-associative). Nesting is bounded so hostile input cannot overflow the stack.

use super::ast::*;
use super::lexer::{Tok, Token};
use super::ParseError;

pub struct Parser {
    toks: Vec<Token>,
    at: usize,
    depth: usize,
    max_depth: usize,
}

impl Parser {
    pub fn new(toks: Vec<Token>, max_depth: usize) -> Parser {
        Parser {
            toks,
            at: 0,
            depth: 0,
            max_depth,
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.at.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.at + n).min(self.toks.len() - 1)].tok
    }

    fn pos(&self) -> usize {
        self.toks[self.at.min(self.toks.len() - 1)].pos
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            pos: self.pos(),
            message: msg.into(),
        })
    }

    fn unexpected<T>(&self, wanted: &str) -> Result<T, ParseError> {
        let found = describe(self.peek());
        self.err(format!(
            "syntax error: unexpected {found}, expecting {wanted}"
        ))
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<(), ParseError> {
        if *self.peek() == t {
            self.bump();
            Ok(())
        } else {
            self.unexpected(what)
        }
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn is_ident(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(i) if i == w)
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return self.err(format!(
                "the query nests deeper than {} levels; simplify it",
                self.max_depth
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    pub fn query(&mut self) -> Result<Query, ParseError> {
        let pipeline = self.pipeline()?;
        let mut hints = Vec::new();
        if self.is_ident("with") {
            self.bump();
            self.expect(Tok::LParen, "(")?;
            loop {
                let Tok::Ident(name) = self.bump() else {
                    return self.unexpected("a hint name");
                };
                self.expect(Tok::Op("="), "=")?;
                let v = self.static_value()?;
                hints.push((name, v));
                if *self.peek() == Tok::Comma {
                    self.bump();
                    continue;
                }
                self.expect(Tok::RParen, ")")?;
                break;
            }
        }
        if *self.peek() != Tok::Eof {
            return self.unexpected("end of query");
        }
        Ok(Query { pipeline, hints })
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        self.enter()?;
        let source = self.spanset_or()?;
        let mut stages = Vec::new();
        while *self.peek() == Tok::Pipe {
            self.bump();
            let stage = self.stage()?;
            let has_metrics = stages.iter().any(|s| matches!(s, Stage::Metrics(_)));
            match &stage {
                Stage::TopK { .. } if !has_metrics => {
                    return self.err("topk and bottomk follow a metrics function")
                }
                Stage::Metrics(_) if has_metrics => {
                    return self.err("a query takes one metrics function")
                }
                Stage::Metrics(_) | Stage::TopK { .. } => {}
                _ if has_metrics => {
                    return self.err(
                        "a metrics function is the last stage of a query \
                         (only topk or bottomk may follow it)",
                    )
                }
                _ => {}
            }
            stages.push(stage);
        }
        self.leave();
        Ok(Pipeline { source, stages })
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let word = match self.peek() {
            Tok::Ident(w) => Some(w.clone()),
            _ => None,
        };
        let call = *self.peek_at(1) == Tok::LParen;
        match word.as_deref() {
            Some("by") if call => {
                self.bump();
                Ok(Stage::By(self.field_list()?))
            }
            Some("select") if call => {
                self.bump();
                Ok(Stage::Select(self.field_list()?))
            }
            Some("coalesce") if call => {
                self.bump();
                self.expect(Tok::LParen, "(")?;
                self.expect(Tok::RParen, ")")?;
                Ok(Stage::Coalesce)
            }
            Some(w @ ("topk" | "bottomk")) if call => {
                let bottom = w == "bottomk";
                self.bump();
                self.expect(Tok::LParen, "(")?;
                let Tok::Int(k) = self.bump() else {
                    return self.unexpected("an integer");
                };
                if k <= 0 {
                    return self.err(format!("{w} takes a positive count, not {k}"));
                }
                self.expect(Tok::RParen, ")")?;
                Ok(Stage::TopK { bottom, k })
            }
            Some(w) if call && metrics_name(w) => self.metrics(),
            Some("count" | "avg" | "min" | "max" | "sum") if call => self.scalar_filter(),
            _ if matches!(self.peek(), Tok::Int(_) | Tok::Float(_) | Tok::Duration(_)) => {
                self.scalar_filter()
            }
            Some(w) if call => self.err(format!("unknown function {w:?} in a pipeline")),
            // `(` opens a grouped spanset or a bracketed scalar expression: try the
            // scalar filter, and fall back to the spanset from the same token.
            _ if *self.peek() == Tok::LParen => {
                let (at, depth) = (self.at, self.depth);
                match self.scalar_filter() {
                    Ok(s) => Ok(s),
                    Err(_) => {
                        self.at = at;
                        self.depth = depth;
                        Ok(Stage::Spanset(self.spanset_or()?))
                    }
                }
            }
            _ => Ok(Stage::Spanset(self.spanset_or()?)),
        }
    }

    fn field_list(&mut self) -> Result<Vec<FieldExpr>, ParseError> {
        self.expect(Tok::LParen, "(")?;
        let mut out = vec![self.field_expr()?];
        while *self.peek() == Tok::Comma {
            self.bump();
            out.push(self.field_expr()?);
        }
        self.expect(Tok::RParen, ")")?;
        Ok(out)
    }

    fn metrics(&mut self) -> Result<Stage, ParseError> {
        let Tok::Ident(name) = self.bump() else {
            return self.unexpected("a metrics function");
        };
        self.expect(Tok::LParen, "(")?;
        let func = match name.as_str() {
            "rate" => MetricsFunc::Rate,
            "count_over_time" => MetricsFunc::CountOverTime,
            "min_over_time" => MetricsFunc::MinOverTime(self.field_expr()?),
            "max_over_time" => MetricsFunc::MaxOverTime(self.field_expr()?),
            "avg_over_time" => MetricsFunc::AvgOverTime(self.field_expr()?),
            "sum_over_time" => MetricsFunc::SumOverTime(self.field_expr()?),
            "histogram_over_time" => MetricsFunc::HistogramOverTime(self.field_expr()?),
            "quantile_over_time" => {
                let field = self.field_expr()?;
                let mut qs = Vec::new();
                while *self.peek() == Tok::Comma {
                    self.bump();
                    let q = match self.bump() {
                        Tok::Float(f) => f,
                        Tok::Int(i) => i as f64,
                        _ => return self.unexpected("a quantile between 0 and 1"),
                    };
                    if !(0.0..=1.0).contains(&q) {
                        return self.err(format!("quantile {q} is outside [0, 1]"));
                    }
                    qs.push(q);
                }
                if qs.is_empty() {
                    return self.err("quantile_over_time takes at least one quantile, e.g. quantile_over_time(duration, .9)");
                }
                MetricsFunc::QuantileOverTime(field, qs)
            }
            "compare" => {
                let selection = Box::new(self.spanset_or()?);
                let mut ints = Vec::new();
                while *self.peek() == Tok::Comma {
                    self.bump();
                    match self.bump() {
                        Tok::Int(i) => ints.push(i),
                        _ => return self.unexpected("an integer"),
                    }
                }
                let (top, range) =
                    match ints.as_slice() {
                        [] => (None, None),
                        [t] => (Some(*t), None),
                        [t, s, e] => (Some(*t), Some((*s, *e))),
                        _ => return self.err(
                            "compare takes a selection, then topN, then optionally start and end",
                        ),
                    };
                MetricsFunc::Compare {
                    selection,
                    top,
                    range,
                }
            }
            other => return self.err(format!("unknown metrics function {other:?}")),
        };
        self.expect(Tok::RParen, ")")?;
        let mut by = Vec::new();
        if self.is_ident("by") {
            self.bump();
            by = self.field_list()?;
        }
        Ok(Stage::Metrics(Metrics { func, by }))
    }

    fn scalar_filter(&mut self) -> Result<Stage, ParseError> {
        let lhs = self.scalar_add()?;
        let op = match self.peek() {
            Tok::Op(o) => comparison(o),
            _ => None,
        };
        let Some(op) = op else {
            return self.unexpected("a comparison (=, !=, <, <=, >, >=)");
        };
        self.bump();
        let rhs = self.scalar_add()?;
        Ok(Stage::ScalarFilter { op, lhs, rhs })
    }

    fn scalar_add(&mut self) -> Result<ScalarExpr, ParseError> {
        let mut lhs = self.scalar_mul()?;
        while let Some(op) = self.arith(&["+", "-"]) {
            let rhs = self.scalar_mul()?;
            lhs = ScalarExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn scalar_mul(&mut self) -> Result<ScalarExpr, ParseError> {
        let mut lhs = self.scalar_pow()?;
        while let Some(op) = self.arith(&["*", "/", "%"]) {
            let rhs = self.scalar_pow()?;
            lhs = ScalarExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn scalar_pow(&mut self) -> Result<ScalarExpr, ParseError> {
        let base = self.scalar_primary()?;
        if let Some(op) = self.arith(&["^"]) {
            self.enter()?;
            let exp = self.scalar_pow()?;
            self.leave();
            return Ok(ScalarExpr::Binary {
                op,
                lhs: Box::new(base),
                rhs: Box::new(exp),
            });
        }
        Ok(base)
    }

    fn scalar_primary(&mut self) -> Result<ScalarExpr, ParseError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.enter()?;
                self.bump();
                let e = self.scalar_add()?;
                self.expect(Tok::RParen, ")")?;
                self.leave();
                Ok(e)
            }
            Tok::Ident(w) if *self.peek_at(1) == Tok::LParen => {
                let op = match w.as_str() {
                    "count" => AggregateOp::Count,
                    "avg" => AggregateOp::Avg,
                    "min" => AggregateOp::Min,
                    "max" => AggregateOp::Max,
                    "sum" => AggregateOp::Sum,
                    other => {
                        return self.err(format!(
                            "unknown aggregate {other:?}: use count, avg, min, max or sum"
                        ))
                    }
                };
                self.bump();
                self.bump();
                let field = if op == AggregateOp::Count {
                    None
                } else {
                    Some(self.field_expr()?)
                };
                self.expect(Tok::RParen, ")")?;
                Ok(ScalarExpr::Aggregate { op, field })
            }
            Tok::Op("-") => {
                self.bump();
                match self.static_value()? {
                    Static::Int(i) => Ok(ScalarExpr::Static(Static::Int(-i))),
                    Static::Float(f) => Ok(ScalarExpr::Static(Static::Float(-f))),
                    Static::Duration(d) => Ok(ScalarExpr::Static(Static::Duration(-d))),
                    _ => self.err("only numbers and durations can be negated"),
                }
            }
            _ => Ok(ScalarExpr::Static(self.static_value()?)),
        }
    }

    fn arith(&mut self, ops: &[&str]) -> Option<BinaryOp> {
        let Tok::Op(o) = self.peek() else { return None };
        if !ops.contains(o) {
            return None;
        }
        let op = match *o {
            "+" => BinaryOp::Add,
            "-" => BinaryOp::Sub,
            "*" => BinaryOp::Mul,
            "/" => BinaryOp::Div,
            "%" => BinaryOp::Mod,
            _ => BinaryOp::Pow,
        };
        self.bump();
        Some(op)
    }

    // ---- spanset expressions ----

    fn spanset_or(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_and()?;
        while self.is_op("||") {
            self.bump();
            let rhs = self.spanset_and()?;
            lhs = SpansetExpr::Binary {
                op: SpansetOp::Or,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn spanset_and(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_structural()?;
        while self.is_op("&&") {
            self.bump();
            let rhs = self.spanset_structural()?;
            lhs = SpansetExpr::Binary {
                op: SpansetOp::And,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn spanset_structural(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_primary()?;
        while let Tok::Op(o) = self.peek() {
            let Some(op) = structural(o) else { break };
            self.bump();
            let rhs = self.spanset_primary()?;
            lhs = SpansetExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr, ParseError> {
        match self.peek() {
            Tok::LBrace => {
                self.bump();
                if *self.peek() == Tok::RBrace {
                    self.bump();
                    return Ok(SpansetExpr::Filter(FieldExpr::Static(Static::Bool(true))));
                }
                let e = self.field_expr()?;
                self.expect(Tok::RBrace, "}")?;
                Ok(SpansetExpr::Filter(e))
            }
            Tok::LParen => {
                self.bump();
                let p = self.pipeline()?;
                self.expect(Tok::RParen, ")")?;
                // A group without stages is just its spanset expression.
                if p.stages.is_empty() {
                    Ok(p.source)
                } else {
                    Ok(SpansetExpr::Group(Box::new(p)))
                }
            }
            _ => self.unexpected("{ or ("),
        }
    }

    // ---- field expressions ----

    fn field_expr(&mut self) -> Result<FieldExpr, ParseError> {
        self.enter()?;
        let e = self.field_or();
        self.leave();
        e
    }

    fn binary_chain(
        &mut self,
        next: fn(&mut Self) -> Result<FieldExpr, ParseError>,
        pick: fn(&str) -> Option<BinaryOp>,
    ) -> Result<FieldExpr, ParseError> {
        let mut lhs = next(self)?;
        while let Tok::Op(o) = self.peek() {
            let Some(op) = pick(o) else { break };
            self.bump();
            let rhs = next(self)?;
            lhs = FieldExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn field_or(&mut self) -> Result<FieldExpr, ParseError> {
        self.binary_chain(Self::field_and, |o| (o == "||").then_some(BinaryOp::Or))
    }

    fn field_and(&mut self) -> Result<FieldExpr, ParseError> {
        self.binary_chain(Self::field_cmp, |o| (o == "&&").then_some(BinaryOp::And))
    }

    fn field_cmp(&mut self) -> Result<FieldExpr, ParseError> {
        self.binary_chain(Self::field_add, comparison)
    }

    fn field_add(&mut self) -> Result<FieldExpr, ParseError> {
        self.binary_chain(Self::field_unary, |o| match o {
            "+" => Some(BinaryOp::Add),
            "-" => Some(BinaryOp::Sub),
            _ => None,
        })
    }

    fn field_unary(&mut self) -> Result<FieldExpr, ParseError> {
        let op = match self.peek() {
            Tok::Op("!") => UnaryOp::Not,
            Tok::Op("-") => UnaryOp::Neg,
            _ => return self.field_mul(),
        };
        self.bump();
        self.enter()?;
        let e = self.field_unary()?;
        self.leave();
        Ok(match (op, e) {
            (UnaryOp::Neg, FieldExpr::Static(Static::Int(i))) => FieldExpr::Static(Static::Int(-i)),
            (UnaryOp::Neg, FieldExpr::Static(Static::Float(f))) => {
                FieldExpr::Static(Static::Float(-f))
            }
            (UnaryOp::Neg, FieldExpr::Static(Static::Duration(d))) => {
                FieldExpr::Static(Static::Duration(-d))
            }
            (op, e) => FieldExpr::Unary {
                op,
                expr: Box::new(e),
            },
        })
    }

    fn field_mul(&mut self) -> Result<FieldExpr, ParseError> {
        self.binary_chain(Self::field_pow, |o| match o {
            "*" => Some(BinaryOp::Mul),
            "/" => Some(BinaryOp::Div),
            "%" => Some(BinaryOp::Mod),
            _ => None,
        })
    }

    fn field_pow(&mut self) -> Result<FieldExpr, ParseError> {
        let base = self.field_primary()?;
        if self.is_op("^") {
            self.bump();
            self.enter()?;
            let exp = self.field_pow()?;
            self.leave();
            return Ok(FieldExpr::Binary {
                op: BinaryOp::Pow,
                lhs: Box::new(base),
                rhs: Box::new(exp),
            });
        }
        Ok(base)
    }

    fn field_primary(&mut self) -> Result<FieldExpr, ParseError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.bump();
                let e = self.field_expr()?;
                self.expect(Tok::RParen, ")")?;
                Ok(e)
            }
            Tok::Attr(a) => {
                self.bump();
                Ok(FieldExpr::Attribute(a))
            }
            Tok::Ident(w) => {
                if let Some(i) = Intrinsic::lookup(&w) {
                    self.bump();
                    return Ok(FieldExpr::Intrinsic(i));
                }
                if keyword(&w).is_some() {
                    return Ok(FieldExpr::Static(self.static_value()?));
                }
                self.err(format!(
                    "unknown intrinsic {w:?}: attributes are written span.{w}, resource.{w} or .{w}"
                ))
            }
            _ => Ok(FieldExpr::Static(self.static_value()?)),
        }
    }

    fn static_value(&mut self) -> Result<Static, ParseError> {
        let v = match self.peek().clone() {
            Tok::Str(s) => Static::Str(s),
            Tok::Int(i) => Static::Int(i),
            Tok::Float(f) => Static::Float(f),
            Tok::Duration(d) => Static::Duration(d),
            Tok::Ident(w) => match keyword(&w) {
                Some(v) => v,
                None => return self.unexpected("a value"),
            },
            _ => return self.unexpected("a value"),
        };
        self.bump();
        Ok(v)
    }
}

/// Keywords that are values.
fn keyword(w: &str) -> Option<Static> {
    Some(match w {
        "true" => Static::Bool(true),
        "false" => Static::Bool(false),
        "nil" => Static::Nil,
        "ok" => Static::Status(SpanStatus::Ok),
        "error" => Static::Status(SpanStatus::Error),
        "unset" => Static::Status(SpanStatus::Unset),
        "unspecified" => Static::Kind(SpanKind::Unspecified),
        "internal" => Static::Kind(SpanKind::Internal),
        "server" => Static::Kind(SpanKind::Server),
        "client" => Static::Kind(SpanKind::Client),
        "producer" => Static::Kind(SpanKind::Producer),
        "consumer" => Static::Kind(SpanKind::Consumer),
        _ => return None,
    })
}

fn metrics_name(w: &str) -> bool {
    matches!(
        w,
        "rate"
            | "count_over_time"
            | "min_over_time"
            | "max_over_time"
            | "avg_over_time"
            | "sum_over_time"
            | "quantile_over_time"
            | "histogram_over_time"
            | "compare"
    )
}

fn comparison(o: &str) -> Option<BinaryOp> {
    Some(match o {
        "=" => BinaryOp::Eq,
        "!=" => BinaryOp::Neq,
        ">" => BinaryOp::Gt,
        ">=" => BinaryOp::Gte,
        "<" => BinaryOp::Lt,
        "<=" => BinaryOp::Lte,
        "=~" => BinaryOp::Regex,
        "!~" => BinaryOp::NotRegex,
        _ => return None,
    })
}

fn structural(o: &str) -> Option<SpansetOp> {
    use SpansetOp::*;
    Some(match o {
        ">" => Child,
        "<" => Parent,
        ">>" => Descendant,
        "<<" => Ancestor,
        "~" => Sibling,
        "!>" => NotChild,
        "!<" => NotParent,
        "!>>" => NotDescendant,
        "!<<" => NotAncestor,
        "!~" => NotSibling,
        "&>" => UnionChild,
        "&<" => UnionParent,
        "&>>" => UnionDescendant,
        "&<<" => UnionAncestor,
        "&~" => UnionSibling,
        _ => return None,
    })
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LBrace => "{".into(),
        Tok::RBrace => "}".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Pipe => "|".into(),
        Tok::Op(o) => (*o).into(),
        Tok::Ident(w) => format!("{w:?}"),
        Tok::Attr(a) => a.to_string(),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(i) => i.to_string(),
        Tok::Float(f) => f.to_string(),
        Tok::Duration(_) => "duration".into(),
        Tok::Eof => "end of query".into(),
    }
}
