//! The Go `text/template` subset `line_format` and `label_format` take: text, `{{ .label }}`
//! (and `{{ .__line__ }}`-free spellings `{{ __line__ }}`, `{{ __timestamp__ }}`), string
//! and number literals, function calls, pipes (`{{ .a | lower | trunc 5 }}`), parentheses,
//! `{{ if }} {{ else if }} {{ else }} {{ end }}`, comments and `{{-`/`-}}` trimming.
//! Functions are those of Loki's most used: Go's comparisons and `printf`, and sprig's
//! string helpers. An unknown function or construct (`range`, `with`, variables) is a
//! parse error naming it.

use regex::Regex;

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
enum Command {
    /// A function and its arguments; a piped value is appended as the last argument.
    Call(Func, Vec<Operand>),
    Value(Operand),
}

#[derive(Debug, Clone)]
enum Operand {
    /// `.name`; `.` alone is the empty name.
    Field(String),
    Str(String),
    Num(f64),
    Bool(bool),
    Sub(Pipeline),
    /// `__line__`, `__timestamp__`.
    Line,
    Timestamp,
}

#[derive(Debug, Clone)]
enum Func {
    Named(&'static str),
    /// `regexReplaceAll` and friends with their pattern compiled once.
    Regex(&'static str, Regex),
}

/// The names of the functions templates may call.
const FUNCS: &[&str] = &[
    "lower",
    "upper",
    "ToLower",
    "ToUpper",
    "title",
    "trim",
    "trimAll",
    "trimLeft",
    "trimRight",
    "trimPrefix",
    "trimSuffix",
    "trimSpace",
    "TrimSpace",
    "TrimPrefix",
    "TrimSuffix",
    "Replace",
    "replace",
    "substr",
    "trunc",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "default",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "printf",
    "len",
    "count",
    "alignLeft",
    "alignRight",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "max",
    "min",
    "ceil",
    "floor",
    "round",
    "int",
    "float64",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "urlencode",
    "unixEpoch",
    "toString",
    "indent",
    "nindent",
    "squote",
    "quote",
];

/// A value while a template runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Num(n) => crate::promql::value::format_float(*n),
            Val::Bool(b) => b.to_string(),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Num(n) => *n != 0.0,
            Val::Bool(b) => *b,
        }
    }

    fn num(&self) -> Result<f64, String> {
        match self {
            Val::Num(n) => Ok(*n),
            Val::Bool(b) => Ok(f64::from(u8::from(*b))),
            Val::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number")),
        }
    }
}

/// What a template reads while it runs: the labels of the line, the line, its time.
pub trait Context {
    fn label(&self, name: &str) -> Option<&str>;
    fn line(&self) -> &str;
    fn ts_ns(&self) -> i64;
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut p = TParser {
            src: source,
            pos: 0,
        };
        let (nodes, end) = p.nodes()?;
        if let Some(end) = end {
            return Err(format!(
                "template {source:?}: unexpected {{{{{end}}}}} without {{{{if}}}}"
            ));
        }
        Ok(Template {
            source: source.to_string(),
            nodes,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the template; an error is a message for `__error_details__`.
    pub fn render(&self, ctx: &dyn Context) -> Result<String, String> {
        let mut out = String::new();
        render_nodes(&self.nodes, ctx, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(nodes: &[Node], ctx: &dyn Context, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&run(p, ctx)?.text()),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                if run(cond, ctx)?.truthy() {
                    render_nodes(then, ctx, out)?;
                } else {
                    render_nodes(otherwise, ctx, out)?;
                }
            }
        }
    }
    Ok(())
}

fn run(p: &Pipeline, ctx: &dyn Context) -> Result<Val, String> {
    let mut piped: Option<Val> = None;
    for cmd in &p.0 {
        piped = Some(match cmd {
            Command::Value(op) => {
                if piped.is_some() {
                    return Err("a value cannot take piped input; pipe into a function".into());
                }
                operand(op, ctx)?
            }
            Command::Call(f, args) => {
                let mut vals = args
                    .iter()
                    .map(|a| operand(a, ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                vals.extend(piped.take());
                call(f, vals)?
            }
        });
    }
    Ok(piped.unwrap_or(Val::Str(String::new())))
}

fn operand(op: &Operand, ctx: &dyn Context) -> Result<Val, String> {
    Ok(match op {
        // Go prints a missing map key as "<no value>"; Loki's labels read as "".
        Operand::Field(name) => Val::Str(ctx.label(name).unwrap_or("").to_string()),
        Operand::Str(s) => Val::Str(s.clone()),
        Operand::Num(n) => Val::Num(*n),
        Operand::Bool(b) => Val::Bool(*b),
        Operand::Sub(p) => run(p, ctx)?,
        Operand::Line => Val::Str(ctx.line().to_string()),
        Operand::Timestamp => Val::Str(go_time(ctx.ts_ns())),
    })
}

/// A time as Go prints a `time.Time` in UTC: `2023-11-14 22:13:20.5 +0000 UTC`.
fn go_time(ns: i64) -> String {
    let frac = ns.rem_euclid(1_000_000_000);
    let Some(t) = chrono::DateTime::from_timestamp(ns.div_euclid(1_000_000_000), frac as u32)
    else {
        return String::new();
    };
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn want(name: &str, args: &[Val], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("{name} takes {n} arguments, {} given", args.len()));
    }
    Ok(())
}

fn call(f: &Func, a: Vec<Val>) -> Result<Val, String> {
    let s = |i: usize| a.get(i).map(Val::text).unwrap_or_default();
    let n = |i: usize| a.get(i).map_or(Ok(0.0), Val::num);
    let name = match f {
        Func::Regex(name, re) => {
            // The pattern (compiled at parse time) is the first argument.
            want(name, &a, 3)?;
            let src = s(1);
            let repl = s(2);
            return Ok(Val::Str(if *name == "regexReplaceAll" {
                re.replace_all(&src, repl.as_str()).into_owned()
            } else {
                re.replace_all(&src, regex::NoExpand(&repl)).into_owned()
            }));
        }
        Func::Named(name) => *name,
    };
    let arity = |k: usize| want(name, &a, k);
    Ok(match name {
        "lower" | "ToLower" => {
            arity(1)?;
            Val::Str(s(0).to_lowercase())
        }
        "upper" | "ToUpper" => {
            arity(1)?;
            Val::Str(s(0).to_uppercase())
        }
        "title" => {
            arity(1)?;
            let mut out = String::new();
            let mut start = true;
            for c in s(0).chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = !c.is_alphanumeric();
            }
            Val::Str(out)
        }
        "trim" | "trimSpace" | "TrimSpace" => {
            arity(1)?;
            Val::Str(s(0).trim().to_string())
        }
        "trimAll" => {
            arity(2)?;
            let cut = s(0);
            Val::Str(s(1).trim_matches(|c| cut.contains(c)).to_string())
        }
        "trimLeft" => {
            arity(2)?;
            let cut = s(0);
            Val::Str(s(1).trim_start_matches(|c| cut.contains(c)).to_string())
        }
        "trimRight" => {
            arity(2)?;
            let cut = s(0);
            Val::Str(s(1).trim_end_matches(|c| cut.contains(c)).to_string())
        }
        "trimPrefix" => {
            arity(2)?;
            let v = s(1);
            Val::Str(v.strip_prefix(s(0).as_str()).unwrap_or(&v).to_string())
        }
        "trimSuffix" => {
            arity(2)?;
            let v = s(1);
            Val::Str(v.strip_suffix(s(0).as_str()).unwrap_or(&v).to_string())
        }
        // Go's strings functions take the subject first.
        "TrimPrefix" => {
            arity(2)?;
            let v = s(0);
            Val::Str(v.strip_prefix(s(1).as_str()).unwrap_or(&v).to_string())
        }
        "TrimSuffix" => {
            arity(2)?;
            let v = s(0);
            Val::Str(v.strip_suffix(s(1).as_str()).unwrap_or(&v).to_string())
        }
        "replace" => {
            arity(3)?;
            Val::Str(s(2).replace(&s(0), &s(1)))
        }
        "Replace" => {
            arity(4)?;
            let k = n(3)?;
            let v = s(0);
            Val::Str(if k < 0.0 {
                v.replace(&s(1), &s(2))
            } else {
                v.replacen(&s(1), &s(2), k as usize)
            })
        }
        "substr" => {
            arity(3)?;
            let chars: Vec<char> = s(2).chars().collect();
            let (from, to) = (n(0)?.max(0.0) as usize, n(1)?);
            let to = if to < 0.0 {
                chars.len()
            } else {
                (to as usize).min(chars.len())
            };
            Val::Str(chars.get(from.min(to)..to).unwrap_or(&[]).iter().collect())
        }
        "trunc" => {
            arity(2)?;
            let k = n(0)?;
            let chars: Vec<char> = s(1).chars().collect();
            let len = chars.len() as f64;
            Val::Str(if k >= 0.0 {
                chars[..k.min(len) as usize].iter().collect()
            } else {
                chars[(len + k).max(0.0) as usize..].iter().collect()
            })
        }
        "contains" => {
            arity(2)?;
            Val::Bool(s(1).contains(&s(0)))
        }
        "hasPrefix" => {
            arity(2)?;
            Val::Bool(s(1).starts_with(&s(0)))
        }
        "hasSuffix" => {
            arity(2)?;
            Val::Bool(s(1).ends_with(&s(0)))
        }
        "repeat" => {
            arity(2)?;
            let k = n(0)?;
            if !(0.0..=10_000.0).contains(&k) {
                return Err(format!("repeat count {k} is out of range 0..10000"));
            }
            Val::Str(s(1).repeat(k as usize))
        }
        "default" => {
            arity(2)?;
            if a[1].truthy() {
                a[1].clone()
            } else {
                a[0].clone()
            }
        }
        "len" | "count" if name == "len" => {
            arity(1)?;
            Val::Num(s(0).chars().count() as f64)
        }
        "count" => {
            arity(2)?;
            Val::Num(s(1).matches(&s(0)).count() as f64)
        }
        "alignLeft" | "alignRight" => {
            arity(2)?;
            let k = n(0)?.max(0.0) as usize;
            let chars: Vec<char> = s(1).chars().collect();
            let v: String = if chars.len() >= k {
                chars[..k].iter().collect()
            } else if name == "alignLeft" {
                format!(
                    "{}{}",
                    chars.iter().collect::<String>(),
                    " ".repeat(k - chars.len())
                )
            } else {
                format!(
                    "{}{}",
                    " ".repeat(k - chars.len()),
                    chars.iter().collect::<String>()
                )
            };
            Val::Str(v)
        }
        "add" | "addf" | "sub" | "subf" | "mul" | "mulf" | "div" | "divf" | "mod" | "max"
        | "min" => {
            if a.len() < 2 {
                return Err(format!("{name} takes at least 2 arguments"));
            }
            let mut acc = n(0)?;
            for i in 1..a.len() {
                let x = n(i)?;
                acc = match name {
                    "add" | "addf" => acc + x,
                    "sub" | "subf" => acc - x,
                    "mul" | "mulf" => acc * x,
                    "div" | "divf" | "mod" if x == 0.0 => {
                        return Err(format!("{name}: division by zero"))
                    }
                    "div" => (acc / x).trunc(),
                    "divf" => acc / x,
                    "mod" => acc % x,
                    "max" => acc.max(x),
                    _ => acc.min(x),
                };
            }
            Val::Num(acc)
        }
        "ceil" => {
            arity(1)?;
            Val::Num(n(0)?.ceil())
        }
        "floor" => {
            arity(1)?;
            Val::Num(n(0)?.floor())
        }
        "round" => {
            arity(1)?;
            Val::Num(n(0)?.round())
        }
        "int" => {
            arity(1)?;
            Val::Num(n(0)?.trunc())
        }
        "float64" => {
            arity(1)?;
            Val::Num(n(0)?)
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(2)?;
            let ord = match (&a[0], &a[1]) {
                (Val::Str(x), Val::Str(y)) => x.partial_cmp(y),
                _ => n(0)?.partial_cmp(&n(1)?),
            };
            use std::cmp::Ordering::*;
            Val::Bool(match name {
                "eq" => ord == Some(Equal),
                "ne" => ord != Some(Equal),
                "lt" => ord == Some(Less),
                "le" => matches!(ord, Some(Less | Equal)),
                "gt" => ord == Some(Greater),
                _ => matches!(ord, Some(Greater | Equal)),
            })
        }
        "and" => a
            .iter()
            .find(|v| !v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Val::Bool(true)),
        "or" => a
            .iter()
            .find(|v| v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Val::Bool(false)),
        "not" => {
            arity(1)?;
            Val::Bool(!a[0].truthy())
        }
        "urlencode" => {
            arity(1)?;
            Val::Str(form_urlencoded::byte_serialize(s(0).as_bytes()).collect())
        }
        "unixEpoch" => {
            arity(1)?;
            let t = chrono::DateTime::parse_from_rfc3339(&s(0))
                .map_err(|_| format!("unixEpoch: {:?} is not an RFC 3339 time", s(0)))?;
            Val::Str(t.timestamp().to_string())
        }
        "toString" => {
            arity(1)?;
            Val::Str(s(0))
        }
        "indent" | "nindent" => {
            arity(2)?;
            let pad = " ".repeat(n(0)?.clamp(0.0, 1000.0) as usize);
            let body = s(1)
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            Val::Str(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "quote" => Val::Str(
            a.iter()
                .map(|v| format!("{:?}", v.text()))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => Val::Str(
            a.iter()
                .map(|v| format!("'{}'", v.text()))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "printf" => {
            if a.is_empty() {
                return Err("printf needs a format".into());
            }
            Val::Str(printf(&s(0), &a[1..]))
        }
        other => return Err(format!("function {other:?} is not supported")),
    })
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %.Nf %q %x %%`.
fn printf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut d = String::new();
            while let Some(c) = chars.peek().filter(|c| c.is_ascii_digit()) {
                d.push(*c);
                chars.next();
            }
            prec = d.parse().ok();
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        match verb {
            'd' => out.push_str(
                &v.num()
                    .map_or_else(|_| v.text(), |n| (n.trunc() as i64).to_string()),
            ),
            'f' => out.push_str(
                &v.num()
                    .map_or_else(|_| v.text(), |n| format!("{n:.*}", prec.unwrap_or(6))),
            ),
            'q' => out.push_str(&format!("{:?}", v.text())),
            'x' => out.push_str(
                &v.text()
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            ),
            _ => out.push_str(&v.text()),
        }
    }
    out
}

struct TParser<'a> {
    src: &'a str,
    pos: usize,
}

impl TParser<'_> {
    /// Nodes up to the end or to an `{{else}}`/`{{else if}}`/`{{end}}`, which is returned.
    fn nodes(&mut self) -> Result<(Vec<Node>, Option<String>), String> {
        let mut nodes = Vec::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(open) = rest.find("{{") else {
                if !rest.is_empty() {
                    nodes.push(Node::Text(rest.to_string()));
                }
                self.pos = self.src.len();
                return Ok((nodes, None));
            };
            let mut text = &rest[..open];
            let mut inner_start = self.pos + open + 2;
            if self.src[inner_start..].starts_with("- ") {
                text = text.trim_end();
                inner_start += 1;
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_string()));
            }
            let close = find_close(self.src, inner_start).ok_or_else(|| {
                format!("template {:?}: unclosed action (missing }}}})", self.src)
            })?;
            let mut inner = &self.src[inner_start..close];
            let mut after = close + 2;
            if inner.ends_with(" -") {
                inner = &inner[..inner.len() - 1];
                after += self.src[after..].len() - self.src[after..].trim_start().len();
            }
            self.pos = after;
            let inner = inner.trim();
            if inner.starts_with("/*") {
                continue;
            }
            let word = inner.split_whitespace().next().unwrap_or("");
            match word {
                "end" => return Ok((nodes, Some("end".into()))),
                "else" => return Ok((nodes, Some(inner.to_string()))),
                "if" => nodes.push(self.if_node(&inner[2..])?),
                "range" | "with" | "define" | "template" | "block" | "break" | "continue" => {
                    return Err(format!(
                        "template {:?}: {{{{{word}}}}} is not supported in line_format/label_format",
                        self.src
                    ))
                }
                _ => nodes.push(Node::Action(pipeline(self.src, inner)?)),
            }
        }
    }

    fn if_node(&mut self, cond: &str) -> Result<Node, String> {
        let cond = pipeline(self.src, cond)?;
        let (then, end) = self.nodes()?;
        let otherwise = match end.as_deref() {
            Some("end") => Vec::new(),
            Some(e) if e.starts_with("else") => {
                let rest = e["else".len()..].trim();
                if let Some(c) = rest.strip_prefix("if") {
                    // `else if` nests an `if` that shares the outer `end`.
                    vec![self.if_node(c)?]
                } else {
                    let (nodes, end) = self.nodes()?;
                    if end.as_deref() != Some("end") {
                        return Err(format!(
                            "template {:?}: {{{{if}}}} without {{{{end}}}}",
                            self.src
                        ));
                    }
                    nodes
                }
            }
            _ => {
                return Err(format!(
                    "template {:?}: {{{{if}}}} without {{{{end}}}}",
                    self.src
                ))
            }
        };
        Ok(Node::If {
            cond,
            then,
            otherwise,
        })
    }
}

/// The `}}` closing the action that starts at `from`, skipping string literals.
fn find_close(src: &str, from: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut i = from;
    while i + 1 < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits an action's text into words, keeping strings and parenthesised groups whole.
fn words(src: &str, s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut depth = 0;
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' => {
                cur.push(c);
                let mut closed = false;
                while let Some(d) = chars.next() {
                    cur.push(d);
                    if d == '\\' && c == '"' {
                        if let Some(e) = chars.next() {
                            cur.push(e);
                        }
                        continue;
                    }
                    if d == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(format!("template {src:?}: unterminated string"));
                }
            }
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            '|' if depth == 0 => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                out.push("|".into());
                cur.clear();
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if depth != 0 {
        return Err(format!("template {src:?}: unbalanced parentheses"));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn pipeline(src: &str, s: &str) -> Result<Pipeline, String> {
    let ws = words(src, s)?;
    let mut cmds = Vec::new();
    for part in ws.split(|w| w == "|") {
        if part.is_empty() {
            return Err(format!("template {src:?}: empty command in pipeline {s:?}"));
        }
        let first = &part[0];
        let is_func = first
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && !matches!(first.as_str(), "true" | "false");
        if is_func {
            let args = part[1..]
                .iter()
                .map(|w| operand_of(src, w))
                .collect::<Result<Vec<_>, _>>()?;
            cmds.push(Command::Call(func(src, first, &args)?, args));
        } else {
            if part.len() > 1 {
                return Err(format!(
                    "template {src:?}: {first:?} is not a function, it cannot take arguments"
                ));
            }
            cmds.push(Command::Value(operand_of(src, first)?));
        }
    }
    if cmds.is_empty() {
        return Err(format!("template {src:?}: empty action"));
    }
    Ok(Pipeline(cmds))
}

fn func(src: &str, name: &str, args: &[Operand]) -> Result<Func, String> {
    if name == "regexReplaceAll" || name == "regexReplaceAllLiteral" {
        let fname = if name == "regexReplaceAll" {
            "regexReplaceAll"
        } else {
            "regexReplaceAllLiteral"
        };
        let Some(Operand::Str(re)) = args.first() else {
            return Err(format!(
                "template {src:?}: {name} takes a literal regular expression first"
            ));
        };
        let re = Regex::new(re).map_err(|e| format!("template {src:?}: {name}: {e}"))?;
        return Ok(Func::Regex(fname, re));
    }
    FUNCS
        .iter()
        .find(|f| **f == name)
        .map(|f| Func::Named(f))
        .ok_or_else(|| format!("template {src:?}: function {name:?} is not supported"))
}

fn operand_of(src: &str, w: &str) -> Result<Operand, String> {
    if w == "__line__" {
        return Ok(Operand::Line);
    }
    if w == "__timestamp__" {
        return Ok(Operand::Timestamp);
    }
    if let Some(name) = w.strip_prefix('.') {
        return Ok(Operand::Field(name.to_string()));
    }
    if let Some(inner) = w.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return Ok(Operand::Sub(pipeline(src, inner)?));
    }
    if w.starts_with('"') {
        let toks = super::lexer::tokenize(w).map_err(|e| format!("template {src:?}: {e}"))?;
        if let Some(super::lexer::Tok::Str(s)) = toks.first().map(|t| &t.tok) {
            return Ok(Operand::Str(s.clone()));
        }
    }
    if let Some(raw) = w.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Ok(Operand::Str(raw.to_string()));
    }
    match w {
        "true" => return Ok(Operand::Bool(true)),
        "false" => return Ok(Operand::Bool(false)),
        _ => {}
    }
    if let Ok(n) = w.parse::<f64>() {
        return Ok(Operand::Num(n));
    }
    if w.starts_with('$') {
        return Err(format!(
            "template {src:?}: variables ({w}) are not supported"
        ));
    }
    Err(format!("template {src:?}: cannot read {w:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx(Vec<(&'static str, &'static str)>);

    impl Context for Ctx {
        fn label(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
        fn line(&self) -> &str {
            "the line"
        }
        fn ts_ns(&self) -> i64 {
            1_700_000_000_500_000_000
        }
    }

    fn r(t: &str) -> String {
        let ctx = Ctx(vec![("a", "Hello"), ("n", "41"), ("e", "")]);
        Template::parse(t).unwrap().render(&ctx).unwrap()
    }

    #[test]
    fn fields_functions_and_pipes() {
        assert_eq!(r("{{.a}} {{ .missing }}!"), "Hello !");
        assert_eq!(r("{{ .a | lower }} {{ upper .a }}"), "hello HELLO");
        assert_eq!(r(r#"{{ .e | default "none" }}"#), "none");
        assert_eq!(r(r#"{{ replace "l" "L" .a }}"#), "HeLLo");
        assert_eq!(r(r#"{{ printf "%s=%d" .a (add .n 1) }}"#), "Hello=42");
        assert_eq!(r(r#"{{ regexReplaceAll "l+" .a "_" }}"#), "He_o");
        assert_eq!(r(r#"{{ .a | trunc 3 }}|{{ __line__ }}"#), "Hel|the line");
        assert_eq!(r("{{ __timestamp__ }}"), "2023-11-14 22:13:20.5 +0000 UTC");
        assert_eq!(r(r#"{{ if eq .n "41" }}yes{{ else }}no{{ end }}"#), "yes");
        assert_eq!(
            r(r#"{{ if .e }}a{{ else if .a }}b{{ else }}c{{ end }}"#),
            "b"
        );
        assert_eq!(r("x {{- .a -}} y {{/* c */}}"), "xHelloy ");
    }

    #[test]
    fn unsupported_constructs_are_named() {
        for (t, want) in [
            ("{{ range .a }}{{ end }}", "range"),
            ("{{ nope .a }}", "\"nope\""),
            ("{{ .a ", "unclosed"),
            ("{{ if .a }}x", "without {{end}}"),
            ("{{ $x }}", "variables"),
        ] {
            let e = Template::parse(t).unwrap_err();
            assert!(e.contains(want), "{t}: {e}");
        }
    }
}
