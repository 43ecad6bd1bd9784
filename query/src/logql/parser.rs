//! A hand-written recursive-descent parser for LogQL (no maintained Rust LogQL parser
//! exists). It follows Loki's grammar (`pkg/logql/syntax/expr.y`) for the supported
//! constructs and refuses the rest with an error naming the construct; every error carries
//! the line and column of the token it is about.

use lookout_store::{MatchOp, Matcher};
use regex::Regex;

use super::ast::*;
use super::lexer::{error_at, tokenize, Tok, Token};
use super::pattern::Pattern;
use super::template::Template;
use super::units;
use crate::error::Result;

/// Deepest nesting of parentheses and operators accepted, so a hostile query cannot
/// overflow the parser's stack.
const MAX_DEPTH: usize = 200;

/// Parses a LogQL query.
pub fn parse(src: &str) -> Result<Expr> {
    let mut p = Parser {
        src,
        toks: tokenize(src)?,
        i: 0,
        depth: 0,
    };
    let expr = if *p.peek() == Tok::LBrace {
        let log = p.log_expr(false)?.0;
        if *p.peek() == Tok::LBracket {
            return Err(p.err(
                "a log range [..] needs a range function around it, e.g. count_over_time({app=\"x\"}[5m])",
            ));
        }
        Expr::Log(log)
    } else {
        Expr::Metric(p.binary(0)?)
    };
    if *p.peek() != Tok::Eof {
        return Err(p.err(format!("unexpected {}", p.peek().describe())));
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

const STAGE_WORDS: &[&str] = &[
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
    "unwrap",
];

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.i + k).min(self.toks.len() - 1)].tok
    }

    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].pos
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn err(&self, msg: impl std::fmt::Display) -> crate::Error {
        error_at(self.src, self.pos(), msg)
    }

    fn err_at(&self, pos: usize, msg: impl std::fmt::Display) -> crate::Error {
        error_at(self.src, pos, msg)
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<()> {
        if *self.peek() == want {
            self.next();
            Ok(())
        } else {
            Err(self.err(format!("expected {what}, found {}", self.peek().describe())))
        }
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn ident(&mut self, what: &str) -> Result<String> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.next();
                Ok(s)
            }
            t => Err(self.err(format!("expected {what}, found {}", t.describe()))),
        }
    }

    fn label_name(&mut self) -> Result<String> {
        let pos = self.pos();
        let name = self.ident("a label name")?;
        if !lookout_store::model::labels::is_valid_label_name(&name) {
            return Err(self.err_at(
                pos,
                format!("label name {name:?} is invalid: must match [a-zA-Z_][a-zA-Z0-9_]*"),
            ));
        }
        Ok(name)
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.next();
                Ok(s)
            }
            t => Err(self.err(format!("expected {what}, found {}", t.describe()))),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!(
                "query nests more than {MAX_DEPTH} levels of parentheses and operators"
            )));
        }
        Ok(())
    }

    // ---- log queries ----

    /// A selector and its pipeline. With `allow_unwrap`, an `| unwrap` stage ends the
    /// pipeline and is returned.
    fn log_expr(&mut self, allow_unwrap: bool) -> Result<(LogExpr, Option<Unwrap>)> {
        let matchers = self.selector()?;
        let mut log = LogExpr {
            matchers,
            stages: Vec::new(),
        };
        let unwrap = self.stages(&mut log, allow_unwrap)?;
        Ok((log, unwrap))
    }

    fn selector(&mut self) -> Result<Vec<Matcher>> {
        let start = self.pos();
        self.expect(Tok::LBrace, "a stream selector such as {app=\"api\"}")?;
        let mut matchers = Vec::new();
        while *self.peek() != Tok::RBrace {
            let name = self.label_name()?;
            let op = self.match_op()?;
            let vpos = self.pos();
            let value = self.string("a quoted label value")?;
            matchers.push(self.matcher(op, name, value, vpos)?);
            if *self.peek() == Tok::Comma {
                self.next();
            } else if *self.peek() != Tok::RBrace {
                return Err(self.err(format!(
                    "expected \",\" or \"}}\" in the stream selector, found {}",
                    self.peek().describe()
                )));
            }
        }
        self.next();
        if !matchers.iter().any(|m| !m.matches("")) {
            return Err(self.err_at(
                start,
                "queries require at least one regexp or equality matcher that does not have an \
                 empty-compatible value. For instance, app=~\".*\" does not meet this requirement, \
                 but app=~\".+\" will",
            ));
        }
        Ok(matchers)
    }

    fn match_op(&mut self) -> Result<MatchOp> {
        let op = match self.peek() {
            Tok::Eq => MatchOp::Equal,
            Tok::Neq => MatchOp::NotEqual,
            Tok::Re => MatchOp::RegexMatch,
            Tok::NotRe => MatchOp::RegexNoMatch,
            t => {
                return Err(self.err(format!(
                    "expected one of =, !=, =~, !~, found {}",
                    t.describe()
                )))
            }
        };
        self.next();
        Ok(op)
    }

    fn matcher(&self, op: MatchOp, name: String, value: String, pos: usize) -> Result<Matcher> {
        Matcher::new(op, name, value).map_err(|e| self.err_at(pos, e))
    }

    fn stages(&mut self, log: &mut LogExpr, allow_unwrap: bool) -> Result<Option<Unwrap>> {
        loop {
            let op = match self.peek() {
                Tok::PipeEq => FilterOp::Contains,
                Tok::Neq => FilterOp::NotContains,
                Tok::PipeRe => FilterOp::Regex,
                Tok::NotRe => FilterOp::NotRegex,
                Tok::PipePattern => FilterOp::Pattern,
                Tok::NotPattern => FilterOp::NotPattern,
                Tok::Pipe => {
                    self.next();
                    if self.is_ident("unwrap") {
                        if !allow_unwrap {
                            return Err(self.err(
                                "unwrap is only allowed in a metric query, e.g. \
                                 sum_over_time({app=\"x\"} | logfmt | unwrap bytes [5m])",
                            ));
                        }
                        self.next();
                        return self.unwrap().map(Some);
                    }
                    let stage = self.stage()?;
                    log.stages.push(stage);
                    continue;
                }
                _ => return Ok(None),
            };
            self.next();
            log.stages.push(Stage::LineFilter(self.line_filter(op)?));
        }
    }

    fn line_filter(&mut self, op: FilterOp) -> Result<LineFilter> {
        let mut lf = LineFilter {
            op,
            values: Vec::new(),
            regexes: Vec::new(),
            patterns: Vec::new(),
        };
        loop {
            if self.is_ident("ip") {
                return Err(self.err("ip() line filters are not supported"));
            }
            let pos = self.pos();
            let v = self.string("a quoted string after the line filter")?;
            match op {
                FilterOp::Regex | FilterOp::NotRegex => {
                    lf.regexes.push(Regex::new(&v).map_err(|e| {
                        self.err_at(pos, format!("invalid regular expression {v:?}: {e}"))
                    })?)
                }
                FilterOp::Pattern | FilterOp::NotPattern => lf
                    .patterns
                    .push(Pattern::parse(&v, false).map_err(|e| self.err_at(pos, e))?),
                _ => {}
            }
            lf.values.push(v);
            if self.is_ident("or") && matches!(self.peek_at(1), Tok::Str(_)) {
                self.next();
                continue;
            }
            return Ok(lf);
        }
    }

    /// The stage after a `|` (not unwrap).
    fn stage(&mut self) -> Result<Stage> {
        let pos = self.pos();
        let word = match self.peek() {
            Tok::Ident(w) => w.clone(),
            Tok::LParen => return Ok(Stage::LabelFilter(self.label_filter()?)),
            t => {
                return Err(self.err(format!(
                    "expected a parser, a label filter or a formatting stage after |, found {}",
                    t.describe()
                )))
            }
        };
        // A label filter starts with a name followed by an operator.
        let is_filter = matches!(
            self.peek_at(1),
            Tok::Eq
                | Tok::EqEq
                | Tok::Neq
                | Tok::Re
                | Tok::NotRe
                | Tok::Gt
                | Tok::Gte
                | Tok::Lt
                | Tok::Lte
        );
        if is_filter || !STAGE_WORDS.contains(&word.as_str()) {
            if !is_filter
                && matches!(
                    self.peek_at(1),
                    Tok::Pipe | Tok::Eof | Tok::LBracket | Tok::RParen
                )
            {
                return Err(self.err_at(
                    pos,
                    format!("{word:?} is not a supported pipeline stage (supported: json, logfmt, regexp, pattern, unpack, line_format, label_format, drop, keep, decolorize, unwrap, and label filters)"),
                ));
            }
            return Ok(Stage::LabelFilter(self.label_filter()?));
        }
        self.next();
        Ok(match word.as_str() {
            "json" => Stage::Json(self.extraction_params()?),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while *self.peek() == Tok::Minus {
                    let fpos = self.pos();
                    self.next();
                    self.expect(Tok::Minus, "--strict or --keep-empty")?;
                    match self.ident("a logfmt flag")?.as_str() {
                        "strict" => strict = true,
                        "keep" if *self.peek() == Tok::Minus && matches!(self.peek_at(1), Tok::Ident(w) if w == "empty") => {
                            self.next();
                            self.next();
                            keep_empty = true;
                        }
                        f => {
                            return Err(self.err_at(
                                fpos,
                                format!("logfmt flag --{f} is not supported (supported: --strict, --keep-empty)"),
                            ))
                        }
                    }
                }
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params: self.extraction_params()?,
                }
            }
            "regexp" => {
                let p = self.pos();
                let s = self.string("a quoted regular expression after regexp")?;
                let re = Regex::new(&s).map_err(|e| {
                    self.err_at(p, format!("invalid regular expression {s:?}: {e}"))
                })?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(self.err_at(
                        p,
                        format!("regexp {s:?} has no named capture such as (?P<name>...): at least one named capture must be supplied"),
                    ));
                }
                Stage::Regexp(re)
            }
            "pattern" => {
                let p = self.pos();
                let s = self.string("a quoted pattern after pattern")?;
                Stage::Pattern(Pattern::parse(&s, true).map_err(|e| self.err_at(p, e))?)
            }
            "unpack" => Stage::Unpack,
            "decolorize" => Stage::Decolorize,
            "line_format" => {
                let p = self.pos();
                let s = self.string("a quoted template after line_format")?;
                Stage::LineFormat(Template::parse(&s).map_err(|e| self.err_at(p, e))?)
            }
            "label_format" => {
                let mut v = Vec::new();
                loop {
                    let dst = self.label_name()?;
                    self.expect(Tok::Eq, "= in label_format")?;
                    match self.peek().clone() {
                        Tok::Str(s) => {
                            let p = self.pos();
                            self.next();
                            let tpl = Template::parse(&s).map_err(|e| self.err_at(p, e))?;
                            v.push(LabelFormat::Template { dst, tpl });
                        }
                        Tok::Ident(_) => {
                            let src = self.label_name()?;
                            v.push(LabelFormat::Rename { dst, src });
                        }
                        t => {
                            return Err(self.err(format!(
                            "expected a label name or a quoted template in label_format, found {}",
                            t.describe()
                        )))
                        }
                    }
                    if *self.peek() != Tok::Comma {
                        break;
                    }
                    self.next();
                }
                Stage::LabelFormat(v)
            }
            "drop" | "keep" => {
                let mut v = Vec::new();
                loop {
                    let name = self.ident("a label name")?;
                    if matches!(self.peek(), Tok::Eq | Tok::Neq | Tok::Re | Tok::NotRe) {
                        let op = self.match_op()?;
                        let p = self.pos();
                        let value = self.string("a quoted label value")?;
                        v.push(LabelSel::Matcher(self.matcher(op, name, value, p)?));
                    } else {
                        v.push(LabelSel::Name(name));
                    }
                    if *self.peek() != Tok::Comma {
                        break;
                    }
                    self.next();
                }
                if word == "drop" {
                    Stage::Drop(v)
                } else {
                    Stage::Keep(v)
                }
            }
            _ => return Err(self.err_at(pos, format!("{word:?} is not supported here"))),
        })
    }

    /// `a="path", b` after json or logfmt.
    fn extraction_params(&mut self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        while let Tok::Ident(_) = self.peek() {
            let label = self.label_name()?;
            let path = if *self.peek() == Tok::Eq {
                self.next();
                self.string("a quoted expression")?
            } else {
                label.clone()
            };
            out.push((label, path));
            if *self.peek() != Tok::Comma {
                break;
            }
            self.next();
        }
        Ok(out)
    }

    fn label_filter(&mut self) -> Result<LabelFilter> {
        self.enter()?;
        let mut lhs = self.label_filter_and()?;
        while self.is_ident("or") && self.filter_follows(1) {
            self.next();
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    /// Whether a label filter term starts `k` tokens ahead.
    fn filter_follows(&self, k: usize) -> bool {
        match self.peek_at(k) {
            Tok::LParen => true,
            Tok::Ident(_) => matches!(
                self.peek_at(k + 1),
                Tok::Eq
                    | Tok::EqEq
                    | Tok::Neq
                    | Tok::Re
                    | Tok::NotRe
                    | Tok::Gt
                    | Tok::Gte
                    | Tok::Lt
                    | Tok::Lte
            ),
            _ => false,
        }
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter> {
        let mut lhs = self.label_filter_term()?;
        loop {
            if (self.is_ident("and") || *self.peek() == Tok::Comma) && self.filter_follows(1) {
                self.next();
            } else if !(matches!(self.peek(), Tok::Ident(w) if w != "or" && w != "and")
                && self.filter_follows(0))
            {
                return Ok(lhs);
            }
            let rhs = self.label_filter_term()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
    }

    fn label_filter_term(&mut self) -> Result<LabelFilter> {
        if *self.peek() == Tok::LParen {
            self.next();
            let f = self.label_filter()?;
            self.expect(Tok::RParen, "\")\" closing the label filter")?;
            return Ok(f);
        }
        let name = self.label_name()?;
        let op_pos = self.pos();
        let op = self.next();
        let vpos = self.pos();
        let value = self.peek().clone();
        let cmp = match op {
            Tok::Eq | Tok::EqEq => CmpOp::Eq,
            Tok::Neq => CmpOp::Neq,
            Tok::Gt => CmpOp::Gt,
            Tok::Gte => CmpOp::Gte,
            Tok::Lt => CmpOp::Lt,
            Tok::Lte => CmpOp::Lte,
            Tok::Re | Tok::NotRe => CmpOp::Eq,
            t => {
                return Err(self.err_at(
                    op_pos,
                    format!(
                        "expected a comparison after label {name:?}, found {}",
                        t.describe()
                    ),
                ))
            }
        };
        if let Tok::Str(s) = &value {
            let mop = match op {
                Tok::Eq => MatchOp::Equal,
                Tok::Neq => MatchOp::NotEqual,
                Tok::Re => MatchOp::RegexMatch,
                Tok::NotRe => MatchOp::RegexNoMatch,
                _ => {
                    return Err(self.err_at(
                        op_pos,
                        format!("label {name:?}: compare strings with =, !=, =~ or !~; numbers are written without quotes"),
                    ))
                }
            };
            self.next();
            return Ok(LabelFilter::Str(self.matcher(
                mop,
                name,
                s.clone(),
                vpos,
            )?));
        }
        if matches!(op, Tok::Re | Tok::NotRe) {
            return Err(self.err_at(vpos, "expected a quoted regular expression"));
        }
        if self.is_ident("ip") {
            return Err(self.err("ip() label filters are not supported"));
        }
        let neg = *self.peek() == Tok::Minus;
        if neg {
            self.next();
        }
        let sign = if neg { -1.0 } else { 1.0 };
        let (value, kind, text) = match self.next() {
            Tok::Num(n) => (
                sign * n,
                CmpKind::Number,
                format!("{}{n}", if neg { "-" } else { "" }),
            ),
            Tok::Unit(u) => {
                let text = format!("{}{u}", if neg { "-" } else { "" });
                if let Some(d) = units::go_duration(&u) {
                    (sign * d, CmpKind::Duration, text)
                } else if let Some(b) = units::bytes(&u) {
                    (sign * b, CmpKind::Bytes, text)
                } else {
                    return Err(self.err_at(
                        vpos,
                        format!("{u:?} is neither a duration (1.5s, 300ms) nor a byte size (20MB, 1KiB)"),
                    ));
                }
            }
            t => {
                return Err(self.err_at(
                    vpos,
                    format!(
                        "expected a quoted string, a number, a duration or a byte size, found {}",
                        t.describe()
                    ),
                ))
            }
        };
        Ok(LabelFilter::Cmp {
            name,
            op: cmp,
            value,
            kind,
            text,
        })
    }

    fn unwrap(&mut self) -> Result<Unwrap> {
        let conv = match self.peek() {
            Tok::Ident(w) if matches!(self.peek_at(1), Tok::LParen) => {
                let c = match w.as_str() {
                    "duration" => Conv::Duration,
                    "duration_seconds" => Conv::DurationSeconds,
                    "bytes" => Conv::Bytes,
                    other => {
                        return Err(self.err(format!(
                            "unwrap conversion {other:?} is not supported (supported: duration, duration_seconds, bytes)"
                        )))
                    }
                };
                self.next();
                self.next();
                Some(c)
            }
            _ => None,
        };
        let label = self.label_name()?;
        if conv.is_some() {
            self.expect(Tok::RParen, "\")\" after the unwrapped label")?;
        }
        let mut filters = Vec::new();
        while *self.peek() == Tok::Pipe {
            if !self.filter_follows(1) {
                self.next();
                return Err(self.err(format!(
                    "only label filters may follow unwrap, found {}",
                    self.peek().describe()
                )));
            }
            self.next();
            filters.push(self.label_filter()?);
        }
        Ok(Unwrap {
            label,
            conv: conv.unwrap_or(Conv::Float),
            filters,
        })
    }

    // ---- metric queries ----

    fn binary(&mut self, min_prec: u8) -> Result<MetricExpr> {
        self.enter()?;
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Mod,
                Tok::Caret => BinOp::Pow,
                Tok::EqEq => BinOp::Eq,
                Tok::Neq => BinOp::Neq,
                Tok::Gt => BinOp::Gt,
                Tok::Gte => BinOp::Gte,
                Tok::Lt => BinOp::Lt,
                Tok::Lte => BinOp::Lte,
                Tok::Ident(w) if w == "and" => BinOp::And,
                Tok::Ident(w) if w == "or" => BinOp::Or,
                Tok::Ident(w) if w == "unless" => BinOp::Unless,
                _ => break,
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_pos = self.pos();
            self.next();
            let return_bool = self.is_ident("bool");
            if return_bool {
                if !op.is_comparison() {
                    return Err(self.err("bool modifier can only be used on comparison operators"));
                }
                self.next();
            }
            let matching = self.matching(op)?;
            // `^` is right-associative, the others left.
            let rhs = self.binary(if op == BinOp::Pow { prec } else { prec + 1 })?;
            let scalar = |e: &MetricExpr| matches!(e, MetricExpr::Number(_));
            if op.is_set() && (scalar(&lhs) || scalar(&rhs)) {
                return Err(self.err_at(
                    op_pos,
                    format!(
                        "set operator {:?} not allowed in binary scalar expression",
                        op.text()
                    ),
                ));
            }
            if op.is_comparison() && scalar(&lhs) && scalar(&rhs) && !return_bool {
                return Err(
                    self.err_at(op_pos, "comparisons between scalars must use BOOL modifier")
                );
            }
            lhs = MetricExpr::Binary(Box::new(Binary {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
            }));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn matching(&mut self, op: BinOp) -> Result<Option<Matching>> {
        let on = if self.is_ident("on") {
            true
        } else if self.is_ident("ignoring") {
            false
        } else {
            return Ok(None);
        };
        self.next();
        let labels = self.name_list()?;
        let card = if self.is_ident("group_left") || self.is_ident("group_right") {
            if op.is_set() {
                return Err(self.err("no grouping allowed for set operations (and, or, unless)"));
            }
            let left = self.is_ident("group_left");
            self.next();
            let include = if *self.peek() == Tok::LParen {
                self.name_list()?
            } else {
                Vec::new()
            };
            if left {
                Card::ManyToOne(include)
            } else {
                Card::OneToMany(include)
            }
        } else {
            Card::OneToOne
        };
        Ok(Some(Matching { on, labels, card }))
    }

    fn name_list(&mut self) -> Result<Vec<String>> {
        self.expect(Tok::LParen, "\"(\" and a list of label names")?;
        let mut v = Vec::new();
        while *self.peek() != Tok::RParen {
            v.push(self.label_name()?);
            if *self.peek() == Tok::Comma {
                self.next();
            } else if *self.peek() != Tok::RParen {
                return Err(self.err(format!(
                    "expected \",\" or \")\", found {}",
                    self.peek().describe()
                )));
            }
        }
        self.next();
        Ok(v)
    }

    fn grouping(&mut self) -> Result<Option<Grouping>> {
        let without = if self.is_ident("by") {
            false
        } else if self.is_ident("without") {
            true
        } else {
            return Ok(None);
        };
        self.next();
        Ok(Some(Grouping {
            without,
            labels: self.name_list()?,
        }))
    }

    fn unary(&mut self) -> Result<MetricExpr> {
        let pos = self.pos();
        match self.next() {
            Tok::Num(n) => Ok(MetricExpr::Number(n)),
            Tok::Minus => match self.peek().clone() {
                Tok::Num(n) => {
                    self.next();
                    Ok(MetricExpr::Number(-n))
                }
                _ => {
                    let e = self.unary()?;
                    Ok(MetricExpr::Binary(Box::new(Binary {
                        op: BinOp::Mul,
                        lhs: MetricExpr::Number(-1.0),
                        rhs: e,
                        return_bool: false,
                        matching: None,
                    })))
                }
            },
            Tok::Plus => self.unary(),
            Tok::LParen => {
                let e = self.binary(0)?;
                self.expect(Tok::RParen, "\")\"")?;
                Ok(e)
            }
            Tok::LBrace => Err(self.err_at(
                pos,
                "a log query cannot be used here; count its lines with a range function, e.g. count_over_time({app=\"x\"}[5m])",
            )),
            Tok::Ident(name) => {
                if name == "vector" {
                    self.expect(Tok::LParen, "\"(\" after vector")?;
                    let neg = *self.peek() == Tok::Minus;
                    if neg {
                        self.next();
                    }
                    let v = match self.next() {
                        Tok::Num(n) => if neg { -n } else { n },
                        t => return Err(self.err(format!("vector() takes a number, found {}", t.describe()))),
                    };
                    self.expect(Tok::RParen, "\")\" after vector's argument")?;
                    return Ok(MetricExpr::VectorOf(v));
                }
                if let Some(op) = RangeOp::from_name(&name) {
                    return self.range_agg(op, pos);
                }
                if let Some(op) = AggOp::from_name(&name) {
                    return self.vector_agg(op, pos);
                }
                let known = [
                    "label_replace", "absent", "approx_topk", "count_values", "quantile",
                    "group", "limitk", "scalar", "sum_over_time",
                ];
                if known.contains(&name.as_str()) || matches!(self.peek(), Tok::LParen) {
                    return Err(self.err_at(pos, format!("function {name:?} is not supported")));
                }
                Err(self.err_at(pos, format!("unexpected {name:?}: expected a metric query such as count_over_time({{app=\"x\"}}[5m]), a number or vector(n)")))
            }
            t => Err(self.err_at(pos, format!("unexpected {}", t.describe()))),
        }
    }

    fn range_agg(&mut self, op: RangeOp, pos: usize) -> Result<MetricExpr> {
        self.enter()?;
        self.expect(Tok::LParen, &format!("\"(\" after {}", op.name()))?;
        let param = if op == RangeOp::Quantile {
            let q = match self.next() {
                Tok::Num(n) => n,
                t => {
                    return Err(self.err(format!(
                        "quantile_over_time takes a number φ first, found {}",
                        t.describe()
                    )))
                }
            };
            self.expect(Tok::Comma, "\",\" after the quantile")?;
            Some(q)
        } else {
            None
        };
        let parens = *self.peek() == Tok::LParen;
        if parens {
            self.next();
        }
        let (mut log, mut unwrap) = self.log_expr(true)?;
        if parens {
            self.expect(Tok::RParen, "\")\" after the log query")?;
        }
        self.expect(Tok::LBracket, "a range such as [5m]")?;
        let rpos = self.pos();
        let (range_ns, range_text) = self.duration("range")?;
        if range_ns <= 0 {
            return Err(self.err_at(rpos, "the range must be positive"));
        }
        self.expect(Tok::RBracket, "\"]\"")?;
        if unwrap.is_none() {
            // The range may also come before the pipeline: `{app="x"}[5m] | json`.
            unwrap = self.stages(&mut log, true)?;
        }
        let (offset_ns, offset_text) = if self.is_ident("offset") {
            self.next();
            let (ns, t) = self.duration("offset")?;
            (ns, Some(t))
        } else {
            (0, None)
        };
        self.expect(Tok::RParen, &format!("\")\" closing {}", op.name()))?;
        let grouping = self.grouping()?;
        if op.needs_unwrap() && unwrap.is_none() {
            return Err(self.err_at(
                pos,
                format!(
                    "{} needs a value to aggregate: add | unwrap <label> before the range",
                    op.name()
                ),
            ));
        }
        if !op.needs_unwrap() && op != RangeOp::Rate && unwrap.is_some() {
            return Err(self.err_at(
                pos,
                format!("{} counts lines and cannot take unwrap", op.name()),
            ));
        }
        if grouping.is_some()
            && !matches!(
                op,
                RangeOp::Avg
                    | RangeOp::Stddev
                    | RangeOp::Stdvar
                    | RangeOp::Quantile
                    | RangeOp::Rate
                    | RangeOp::RateCounter
                    | RangeOp::Max
                    | RangeOp::Min
                    | RangeOp::First
                    | RangeOp::Last
            )
        {
            return Err(self.err_at(
                pos,
                format!("grouping not allowed for {} aggregation", op.name()),
            ));
        }
        if grouping.is_some() && op == RangeOp::Rate && unwrap.is_none() {
            return Err(self.err_at(
                pos,
                "grouping not allowed for rate aggregation without unwrap",
            ));
        }
        self.depth -= 1;
        Ok(MetricExpr::Range(Box::new(RangeAgg {
            op,
            log,
            range_ns,
            offset_ns,
            unwrap,
            param,
            grouping,
            range_text,
            offset_text,
        })))
    }

    /// A Prometheus duration token (`5m`, `1h30m`), in ns.
    fn duration(&mut self, what: &str) -> Result<(i64, String)> {
        let pos = self.pos();
        let text = match self.next() {
            Tok::Unit(u) => u,
            t => {
                return Err(self.err_at(
                    pos,
                    format!(
                        "expected a {what} duration such as 5m, found {}",
                        t.describe()
                    ),
                ))
            }
        };
        let ns = crate::http::params::parse_duration(&text)
            .map_err(|e| self.err_at(pos, format!("invalid {what}: {e}")))?;
        Ok((ns, text))
    }

    fn vector_agg(&mut self, op: AggOp, pos: usize) -> Result<MetricExpr> {
        self.enter()?;
        let mut grouping = self.grouping()?;
        self.expect(Tok::LParen, &format!("\"(\" after {}", op.name()))?;
        let param = if matches!(op, AggOp::Topk | AggOp::Bottomk) {
            let p = self.pos();
            let k = match self.next() {
                Tok::Num(n) => n,
                t => {
                    return Err(self.err_at(
                        p,
                        format!(
                            "{} takes a number k first, found {}",
                            op.name(),
                            t.describe()
                        ),
                    ))
                }
            };
            if k < 1.0 || k.fract() != 0.0 {
                return Err(self.err_at(
                    p,
                    format!("{}: k must be a positive integer, got {k}", op.name()),
                ));
            }
            self.expect(Tok::Comma, "\",\" after k")?;
            Some(k)
        } else {
            None
        };
        let expr = self.binary(0)?;
        self.expect(Tok::RParen, &format!("\")\" closing {}", op.name()))?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        if matches!(op, AggOp::Sort | AggOp::SortDesc) && grouping.is_some() {
            return Err(self.err_at(pos, format!("{} does not take by or without", op.name())));
        }
        self.depth -= 1;
        Ok(MetricExpr::Vector(Box::new(VectorAgg {
            op,
            param,
            grouping,
            expr,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> String {
        match parse(q) {
            Ok(e) => e.to_string(),
            Err(e) => panic!("{q}: {e}"),
        }
    }

    fn err(q: &str) -> String {
        match parse(q) {
            Ok(e) => panic!("{q} parsed as {e}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn selectors() {
        assert_eq!(
            ok(r#"{app="a", env!="dev", host=~"h.+", x!~"y"}"#),
            r#"{app="a", env!="dev", host=~"h.+", x!~"y"}"#
        );
        assert!(err("{}").contains("at least one"));
        assert!(err(r#"{a=~".*"}"#).contains("empty-compatible"));
        assert_eq!(err(r#"{a="b""#), "parse error at line 1, col 7: expected \",\" or \"}\" in the stream selector, found end of query");
        assert!(err(r#"{a.b="x"}"#).contains("label name \"a.b\" is invalid"));
        assert!(err(r#"{a=~"("}"#).contains("col 5"));
    }

    #[test]
    fn line_filters() {
        assert_eq!(
            ok(r#"{a="b"} |= "x" != "y" |~ "(?i)z" !~ `w\d` |> "<_> err <_>" !> "GET <_>""#),
            r#"{a="b"} |= "x" != "y" |~ "(?i)z" !~ "w\\d" |> "<_> err <_>" !> "GET <_>""#
        );
        assert_eq!(
            ok(r#"{a="b"} |= "x" or "y" != "z""#),
            r#"{a="b"} |= "x" or "y" != "z""#
        );
        assert!(err(r#"{a="b"} |~ "(""#).contains("invalid regular expression"));
        assert!(err(r#"{a="b"} |= ip("1.2.3.4")"#).contains("ip() line filters are not supported"));
    }

    #[test]
    fn parsers_and_formatting() {
        assert_eq!(
            ok(
                r#"{a="b"} | json | logfmt --strict --keep-empty x, y="z" | json s="a.b[0]" | unpack | decolorize"#
            ),
            r#"{a="b"} | json | logfmt --strict --keep-empty x, y="z" | json s="a.b[0]" | unpack | decolorize"#
        );
        assert_eq!(
            ok(
                r#"{a="b"} | regexp "(?P<m>\\w+)" | pattern "<ip> <_>" | line_format "{{.m}}" | label_format x=y, z="{{.x}}" | drop a, b="c" | keep d"#
            ),
            r#"{a="b"} | regexp "(?P<m>\\w+)" | pattern "<ip> <_>" | line_format "{{.m}}" | label_format x=y, z="{{.x}}" | drop a, b="c" | keep d"#
        );
        assert!(err(r#"{a="b"} | regexp "(\\w+)""#).contains("named capture"));
        assert!(err(r#"{a="b"} | line_format "{{ range .x }}""#).contains("range"));
        assert!(err(r#"{a="b"} | logfmt --fast"#).contains("--fast"));
        assert!(err(r#"{a="b"} | xml"#).contains("\"xml\" is not a supported pipeline stage"));
        assert!(err(r#"{a="b"} | unwrap x"#).contains("only allowed in a metric query"));
    }

    #[test]
    fn label_filters() {
        assert_eq!(
            ok(
                r#"{a="b"} | status >= 400 and level="error" or dur > 1.5s | size <= 20MB, x=~"y" | n == -1"#
            ),
            r#"{a="b"} | ((status>=400 and level="error") or dur>1.5s) | (size<=20MB and x=~"y") | n==-1"#
        );
        assert_eq!(
            ok(r#"{a="b"} | (a="1" or b!="2") c != 3"#),
            r#"{a="b"} | ((a="1" or b!="2") and c!=3)"#
        );
        assert!(err(r#"{a="b"} | x > "1""#).contains("compare strings"));
        assert!(err(r#"{a="b"} | x > 5q"#).contains("neither a duration"));
    }

    #[test]
    fn metric_queries() {
        assert_eq!(
            ok(r#"sum by (level) (count_over_time({a="b"} |= "x" [5m]))"#),
            r#"sum by (level) (count_over_time({a="b"} |= "x"[5m]))"#
        );
        assert_eq!(
            ok(
                r#"quantile_over_time(0.99, {a="b"} | logfmt | unwrap duration(latency) | __error__="" [1m] offset 1h) by (path)"#
            ),
            r#"quantile_over_time(0.99,{a="b"} | logfmt | unwrap duration(latency) | __error__=""[1m] offset 1h) by (path)"#
        );
        assert_eq!(
            ok(r#"rate({a="b"}[5m] | json)"#),
            r#"rate({a="b"} | json[5m])"#
        );
        assert_eq!(
            ok(r#"topk(2, sum(rate({a="b"}[1m])) by (x))"#),
            r#"topk by (x) (2,sum(rate({a="b"}[1m])))"#
                .replace("topk by (x) (2,sum(", "topk(2,sum by (x) (")
        );
        assert_eq!(ok("vector(1)+vector(1)"), "(vector(1) + vector(1))");
        assert_eq!(
            ok(
                r#"count_over_time({a="b"}[1m]) > bool on (x) group_left (y) 2 * 3 ^ 2 ^ 1 or vector(0)"#
            ),
            r#"((count_over_time({a="b"}[1m]) > bool on(x) group_left(y) (2 * (3 ^ (2 ^ 1)))) or vector(0))"#
        );
        assert_eq!(ok("-1 + 2"), "(-1 + 2)");
    }

    #[test]
    fn metric_errors_name_the_construct() {
        for (q, want) in [
            (
                r#"sum_over_time({a="b"}[5m])"#,
                "needs a value to aggregate",
            ),
            (
                r#"count_over_time({a="b"} | unwrap x [5m])"#,
                "cannot take unwrap",
            ),
            (
                r#"count_over_time({a="b"}[5m]) by (x)"#,
                "grouping not allowed",
            ),
            (
                r#"label_replace(vector(1), "a", "b", "c", "d")"#,
                "\"label_replace\" is not supported",
            ),
            (r#"{a="b"}[5m]"#, "needs a range function"),
            (r#"sum({a="b"})"#, "a log query cannot be used here"),
            ("1 > 2", "BOOL"),
            ("topk(0, vector(1))", "positive integer"),
            (
                r#"rate({a="b"} | unwrap x | json [1m])"#,
                "only label filters may follow unwrap",
            ),
            (r#"sort by (a) (vector(1))"#, "does not take by"),
        ] {
            let e = err(q);
            assert!(e.contains(want), "{q}: {e}");
            assert!(e.starts_with("parse error at line 1, col "), "{e}");
        }
        let deep = format!("{}1{}", "(".repeat(300), ")".repeat(300));
        assert!(err(&deep).contains("nests more than"));
    }
}
