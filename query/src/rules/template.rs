//! Alert label and annotation templates: the subset of Go's `text/template` that
//! Prometheus rule templates use, with Prometheus' function library (`funcs`).
//!
//! Hand-written because no maintained Rust crate evaluates Go's template language with
//! Go's semantics (truthiness, `$` variables, pipelines with the piped value as last
//! argument, `{{-`/`-}}` trimming, Go's number printing); Tera and Handlebars look similar
//! and differ in exactly the places alert texts show. Supported: text, `{{ pipeline }}`,
//! comments, variables (`$x := …`, `$x = …`), fields (`.Labels.job`, `$labels.job`),
//! `if`/`else if`/`else`, `range` (with `$i, $v :=`, `else`), `with`, `define`/`template`,
//! parenthesised pipelines, string, raw string, number and bool literals.

pub mod funcs;
pub mod gofmt;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A value inside a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    /// Shared: templates read `$labels` and the dot's fields many times per expansion.
    Map(Arc<BTreeMap<String, String>>),
    /// A `query` result: each sample's labels and value.
    Samples(Vec<QuerySample>),
    Sample(QuerySample),
    List(Vec<Value>),
    /// A struct of named fields: the alert template's dot (`.Labels`, `.Value`, …).
    Struct(Arc<BTreeMap<String, Value>>),
}

/// One sample of a `query` result, as templates see it (`.Labels`, `.Value`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Value {
    /// Go's truth: false, 0, nil and empty strings, maps and lists are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Num(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Samples(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Sample(_) | Value::Struct(_) => true,
        }
    }

    /// The Go type name `printf` shows in its error forms.
    pub fn go_type(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Num(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(_) => "map[string]string",
            Value::Samples(_) => "template.queryResult",
            Value::Sample(_) => "*template.sample",
            Value::List(_) => "[]interface {}",
            Value::Struct(_) => "struct",
        }
    }
}

/// Go's `%v`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Num(v) => f.write_str(&gofmt::format_g(*v, None)),
            Value::Str(s) => f.write_str(s),
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
            Value::Sample(s) => write!(
                f,
                "{{{} {}}}",
                Value::Map(Arc::new(s.labels.clone())),
                gofmt::format_g(s.value, None)
            ),
            Value::Samples(v) => {
                f.write_str("[")?;
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{}", Value::Sample(s.clone()))?;
                }
                f.write_str("]")
            }
            Value::Struct(m) => {
                f.write_str("{")?;
                for (i, v) in m.values().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("}")
            }
            Value::List(v) => {
                f.write_str("[")?;
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{s}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// What a template is expanded with: the dot value and what functions reach outside it.
pub struct Context<'a> {
    pub dot: Value,
    /// Runs `query "…"` at the rule's evaluation time.
    pub query: &'a dyn Fn(&str) -> Result<Vec<QuerySample>, String>,
    /// The server's external URL (`externalURL`, `pathPrefix`).
    pub external_url: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// `.a.b` (empty path: `.`).
    Field(Vec<String>),
    /// `$x.a.b` (`$` alone is the template's initial dot).
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    Nil,
    Func(String),
    Pipe(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Pipeline {
    decl: Vec<String>,
    /// `=` instead of `:=`.
    assign: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Template(String, Option<Pipeline>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    defines: BTreeMap<String, Vec<Node>>,
}

/// Most nested template calls and loop iterations one expansion may make: a template is
/// input, and `range` over a large query result or a recursive `template` must end.
const MAX_STEPS: usize = 100_000;

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let items = lex(text)?;
        let mut p = Parser {
            items,
            pos: 0,
            defines: BTreeMap::new(),
        };
        let (nodes, end) = p.list()?;
        if let Some(e) = end {
            return Err(format!("unexpected {{{{{e}}}}}"));
        }
        Ok(Template {
            nodes,
            defines: p.defines,
        })
    }

    /// Expands the template; an error names what failed, as Go's does.
    pub fn execute(&self, ctx: &Context<'_>) -> Result<String, String> {
        let mut ex = Exec {
            ctx,
            defines: &self.defines,
            vars: vec![("$".into(), ctx.dot.clone())],
            out: String::new(),
            steps: 0,
        };
        ex.nodes(&self.nodes, &ctx.dot)?;
        Ok(ex.out)
    }
}

/// Prometheus' rule-template preamble: `$labels`, `$externalLabels`, `$externalURL` and
/// `$value` bound from the dot.
pub const PREAMBLE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// What an alert's label and annotation templates see as their dot (`.Labels`,
/// `.ExternalLabels`, `.ExternalURL`, `.Value`), built once per alert for all its texts.
pub fn alert_dot(
    labels: BTreeMap<String, String>,
    external_labels: &Arc<BTreeMap<String, String>>,
    external_url: &str,
    value: f64,
) -> Value {
    let mut dot = BTreeMap::new();
    dot.insert("Labels".to_string(), Value::Map(Arc::new(labels)));
    dot.insert(
        "ExternalLabels".to_string(),
        Value::Map(external_labels.clone()),
    );
    dot.insert("ExternalURL".to_string(), Value::Str(external_url.into()));
    dot.insert("Value".to_string(), Value::Num(value));
    Value::Struct(Arc::new(dot))
}

/// Expands one alert label or annotation the way Prometheus does: the preamble, then the
/// text, with `dot` from [`alert_dot`]; an error becomes the text
/// `<error expanding template: …>`.
pub fn expand_alert_text(
    text: &str,
    dot: &Value,
    external_url: &str,
    query: &dyn Fn(&str) -> Result<Vec<QuerySample>, String>,
) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    let ctx = Context {
        dot: dot.clone(),
        query,
        external_url,
    };
    let r = parsed_alert_text(text).and_then(|t| t.execute(&ctx));
    match r {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

/// The preamble and `text`, parsed once per thread: a rule's annotations are expanded for
/// every alert at every evaluation, and parsing them again each time cost more than the
/// rule's query.
fn parsed_alert_text(text: &str) -> Result<std::rc::Rc<Template>, String> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;
    /// Past this many distinct texts the cache starts over (bounded memory).
    const MAX_CACHED: usize = 4096;
    thread_local! {
        static CACHE: RefCell<HashMap<String, Rc<Template>>> = RefCell::new(HashMap::new());
    }
    if let Some(t) = CACHE.with(|c| c.borrow().get(text).cloned()) {
        return Ok(t);
    }
    let t = Rc::new(Template::parse(&format!("{PREAMBLE}{text}"))?);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED {
            c.clear();
        }
        c.insert(text.to_string(), t.clone());
    });
    Ok(t)
}

// ---- lexing -------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text(String),
    /// The tokens of one `{{ … }}` action.
    Action(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    /// `.field` chain after a `)`.
    Chain(Vec<String>),
}

fn lex(text: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let mut t = rest;
            if trim_next {
                t = t.trim_start();
            }
            if !t.is_empty() {
                items.push(Item::Text(t.to_string()));
            }
            break;
        };
        let mut t = &rest[..open];
        if trim_next {
            t = t.trim_start();
        }
        let mut inner = &rest[open + 2..];
        if inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n") {
            t = t.trim_end();
            inner = &inner[1..];
        }
        if !t.is_empty() {
            items.push(Item::Text(t.to_string()));
        }
        let trimmed = inner.trim_start();
        if let Some(c) = trimmed.strip_prefix("/*") {
            let end = c.find("*/").ok_or("unclosed comment")?;
            let after = c[end + 2..].trim_start();
            let (after, trim) = if let Some(a) = after.strip_prefix("-}}") {
                (a, true)
            } else if let Some(a) = after.strip_prefix("}}") {
                (a, false)
            } else {
                return Err("comment ends before closing delimiter".into());
            };
            trim_next = trim;
            rest = after;
            continue;
        }
        let (toks, after, trim) = lex_action(inner)?;
        trim_next = trim;
        items.push(Item::Action(toks));
        rest = after;
    }
    Ok(items)
}

fn lex_action(s: &str) -> Result<(Vec<Tok>, &str, bool), String> {
    let mut toks = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Err("unclosed action".into());
        }
        if s[i..].starts_with("-}}") && i > 0 && b[i - 1].is_ascii_whitespace() {
            return Ok((toks, &s[i + 3..], true));
        }
        if s[i..].starts_with("}}") {
            return Ok((toks, &s[i + 2..], false));
        }
        let c = b[i];
        match c {
            b'|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            b'(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                toks.push(Tok::RParen);
                i += 1;
                if i < b.len() && b[i] == b'.' {
                    let (path, n) = field_path(&s[i..]);
                    toks.push(Tok::Chain(path));
                    i += n;
                }
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            b'=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            b'"' => {
                let mut j = i + 1;
                let mut out = String::new();
                loop {
                    let Some(&ch) = b.get(j) else {
                        return Err("unterminated quoted string".into());
                    };
                    if ch == b'"' {
                        break;
                    }
                    if ch == b'\\' {
                        let e = b.get(j + 1).ok_or("unterminated quoted string")?;
                        out.push(match e {
                            b'n' => '\n',
                            b't' => '\t',
                            b'r' => '\r',
                            b'\\' => '\\',
                            b'"' => '"',
                            b'\'' => '\'',
                            _ => return Err(format!("unknown escape sequence \\{}", *e as char)),
                        });
                        j += 2;
                        continue;
                    }
                    let ch_len = s[j..].chars().next().map_or(1, char::len_utf8);
                    out.push_str(&s[j..j + ch_len]);
                    j += ch_len;
                }
                toks.push(Tok::Str(out));
                i = j + 1;
            }
            b'`' => {
                let end = s[i + 1..]
                    .find('`')
                    .ok_or("unterminated raw quoted string")?;
                toks.push(Tok::Str(s[i + 1..i + 1 + end].to_string()));
                i += end + 2;
            }
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let (path, n) = field_path(&s[i..]);
                toks.push(Tok::Field(path));
                i += n;
            }
            b'$' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let name = s[i..j].to_string();
                let (path, n) = if j < b.len() && b[j] == b'.' {
                    field_path(&s[j..])
                } else {
                    (vec![], 0)
                };
                toks.push(Tok::Var(name, path));
                i = j + n;
            }
            b'-' | b'+' | b'0'..=b'9' | b'.' => {
                let mut j = i + 1;
                while j < b.len()
                    && (b[j].is_ascii_alphanumeric()
                        || b[j] == b'.'
                        || ((b[j] == b'-' || b[j] == b'+') && matches!(b[j - 1], b'e' | b'E')))
                {
                    j += 1;
                }
                toks.push(Tok::Num(s[i..j].to_string()));
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                toks.push(Tok::Ident(s[i..j].to_string()));
                i = j;
            }
            _ => {
                return Err(format!(
                    "unexpected {:?} in action",
                    s[i..].chars().next().unwrap_or(' ')
                ))
            }
        }
    }
}

/// `.a.b` → (["a","b"], bytes consumed); `.` alone → ([], 1).
fn field_path(s: &str) -> (Vec<String>, usize) {
    let b = s.as_bytes();
    let mut path = Vec::new();
    let mut i = 0;
    while i < b.len() && b[i] == b'.' {
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        if j == i + 1 {
            i = j;
            break;
        }
        path.push(s[i + 1..j].to_string());
        i = j;
    }
    (path, i.max(1))
}

// ---- parsing ------------------------------------------------------------------------

struct Parser {
    items: Vec<Item>,
    pos: usize,
    defines: BTreeMap<String, Vec<Node>>,
}

/// How a list ended: `end`, `else` (with what follows it), or the end of input (None).
type End = Option<String>;

impl Parser {
    /// Nodes up to `{{end}}`/`{{else …}}` (returned as the end keyword; for `else`, the
    /// tokens after it stay in `self.else_rest`).
    fn list(&mut self) -> Result<(Vec<Node>, End), String> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let item = self.items[self.pos].clone();
            self.pos += 1;
            match item {
                Item::Text(t) => nodes.push(Node::Text(t)),
                Item::Action(toks) => {
                    let kw = match toks.first() {
                        Some(Tok::Ident(k)) => k.as_str(),
                        _ => "",
                    };
                    match kw {
                        "end" => return Ok((nodes, Some("end".into()))),
                        "else" => {
                            // Leave the tokens after `else` for the enclosing block.
                            self.pos -= 1;
                            return Ok((nodes, Some("else".into())));
                        }
                        "if" => nodes.push(self.if_node(&toks[1..])?),
                        "range" | "with" => {
                            let pipe = pipeline(&toks[1..])?;
                            let (body, end) = self.list()?;
                            let els = self.else_part(end, kw)?;
                            nodes.push(if kw == "range" {
                                Node::Range(pipe, body, els)
                            } else {
                                Node::With(pipe, body, els)
                            });
                        }
                        "define" | "block" => {
                            let name = match toks.get(1) {
                                Some(Tok::Str(s)) => s.clone(),
                                _ => return Err(format!("{kw} needs a quoted name")),
                            };
                            let (body, end) = self.list()?;
                            if end.as_deref() != Some("end") {
                                return Err(format!("unexpected EOF in {kw} {name:?}"));
                            }
                            if kw == "block" {
                                let p = if toks.len() > 2 {
                                    Some(pipeline(&toks[2..])?)
                                } else {
                                    None
                                };
                                nodes.push(Node::Template(name.clone(), p));
                            }
                            self.defines.insert(name, body);
                        }
                        "template" => {
                            let name = match toks.get(1) {
                                Some(Tok::Str(s)) => s.clone(),
                                _ => return Err("template needs a quoted name".into()),
                            };
                            let p = if toks.len() > 2 {
                                Some(pipeline(&toks[2..])?)
                            } else {
                                None
                            };
                            nodes.push(Node::Template(name, p));
                        }
                        _ => {
                            if toks.is_empty() {
                                return Err("missing value for command".into());
                            }
                            nodes.push(Node::Action(pipeline(&toks)?));
                        }
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    fn if_node(&mut self, cond: &[Tok]) -> Result<Node, String> {
        let mut branches = vec![];
        let mut cond = pipeline(cond)?;
        loop {
            let (body, end) = self.list()?;
            branches.push((cond, body));
            match end.as_deref() {
                Some("end") => return Ok(Node::If(branches, vec![])),
                Some("else") => {
                    let Item::Action(toks) = self.items[self.pos].clone() else {
                        return Err("internal: else without action".into());
                    };
                    self.pos += 1;
                    if matches!(toks.get(1), Some(Tok::Ident(k)) if k == "if") {
                        cond = pipeline(&toks[2..])?;
                        continue;
                    }
                    let (els, end) = self.list()?;
                    if end.as_deref() != Some("end") {
                        return Err("unexpected EOF: if without end".into());
                    }
                    return Ok(Node::If(branches, els));
                }
                _ => return Err("unexpected EOF: if without end".into()),
            }
        }
    }

    fn else_part(&mut self, end: End, kw: &str) -> Result<Vec<Node>, String> {
        match end.as_deref() {
            Some("end") => Ok(vec![]),
            Some("else") => {
                self.pos += 1;
                let (els, end) = self.list()?;
                if end.as_deref() != Some("end") {
                    return Err(format!("unexpected EOF: {kw} without end"));
                }
                Ok(els)
            }
            _ => Err(format!("unexpected EOF: {kw} without end")),
        }
    }
}

fn pipeline(toks: &[Tok]) -> Result<Pipeline, String> {
    let mut decl = Vec::new();
    let mut assign = false;
    let mut rest = toks;
    // `$x :=`, `$i, $v :=`, `$x =`
    let mut i = 0;
    let mut names = Vec::new();
    while let Some(Tok::Var(n, p)) = rest.get(i) {
        if !p.is_empty() {
            break;
        }
        names.push(n.clone());
        match rest.get(i + 1) {
            Some(Tok::Comma) => i += 2,
            Some(Tok::Declare) | Some(Tok::Assign) => {
                assign = rest.get(i + 1) == Some(&Tok::Assign);
                decl = names.clone();
                rest = &rest[i + 2..];
                break;
            }
            _ => break,
        }
    }
    let mut cmds = Vec::new();
    let mut cur: Vec<Arg> = Vec::new();
    let mut j = 0;
    while j < rest.len() {
        match &rest[j] {
            Tok::Pipe => {
                if cur.is_empty() {
                    return Err("missing command before |".into());
                }
                cmds.push(std::mem::take(&mut cur));
            }
            Tok::LParen => {
                let mut depth = 1;
                let start = j + 1;
                while depth > 0 {
                    j += 1;
                    match rest.get(j) {
                        Some(Tok::LParen) => depth += 1,
                        Some(Tok::RParen) => depth -= 1,
                        None => return Err("unclosed left paren".into()),
                        _ => {}
                    }
                }
                let inner = pipeline(&rest[start..j])?;
                let chain = match rest.get(j + 1) {
                    Some(Tok::Chain(p)) => {
                        j += 1;
                        p.clone()
                    }
                    _ => vec![],
                };
                cur.push(Arg::Pipe(Box::new(inner), chain));
            }
            Tok::RParen => return Err("unexpected right paren".into()),
            Tok::Ident(name) => cur.push(match name.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                n if funcs::exists(n) => Arg::Func(n.to_string()),
                n => return Err(format!("function {n:?} not defined")),
            }),
            Tok::Field(p) => cur.push(Arg::Field(p.clone())),
            Tok::Var(n, p) => cur.push(Arg::Var(n.clone(), p.clone())),
            Tok::Str(s) => cur.push(Arg::Str(s.clone())),
            Tok::Num(n) => cur.push(parse_number(n)?),
            Tok::Chain(_) | Tok::Comma | Tok::Declare | Tok::Assign => {
                return Err("unexpected token in command".into())
            }
        }
        j += 1;
    }
    if !cur.is_empty() {
        cmds.push(cur);
    } else if !cmds.is_empty() || !decl.is_empty() {
        return Err("missing value for command".into());
    }
    if cmds.is_empty() {
        return Err("missing value for command".into());
    }
    Ok(Pipeline { decl, assign, cmds })
}

fn parse_number(n: &str) -> Result<Arg, String> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Arg::Int(i));
    }
    if let Some(h) = n.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(h, 16) {
            return Ok(Arg::Int(i));
        }
    }
    n.parse::<f64>()
        .map(Arg::Num)
        .map_err(|_| format!("bad number syntax: {n:?}"))
}

// ---- execution ----------------------------------------------------------------------

struct Exec<'a, 'c> {
    ctx: &'a Context<'c>,
    defines: &'a BTreeMap<String, Vec<Node>>,
    vars: Vec<(String, Value)>,
    out: String,
    steps: usize,
}

impl Exec<'_, '_> {
    fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(format!("template took more than {MAX_STEPS} steps"));
        }
        Ok(())
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<(), String> {
        for n in nodes {
            self.node(n, dot)?;
        }
        Ok(())
    }

    fn scoped(&mut self, nodes: &[Node], dot: &Value) -> Result<(), String> {
        let mark = self.vars.len();
        let r = self.nodes(nodes, dot);
        self.vars.truncate(mark);
        r
    }

    fn node(&mut self, n: &Node, dot: &Value) -> Result<(), String> {
        self.step()?;
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.decl.is_empty() {
                    self.out.push_str(&v.to_string());
                }
            }
            Node::If(branches, els) => {
                for (cond, body) in branches {
                    let mark = self.vars.len();
                    if self.pipe(cond, dot)?.truth() {
                        let r = self.nodes(body, dot);
                        self.vars.truncate(mark);
                        return r;
                    }
                    self.vars.truncate(mark);
                }
                self.scoped(els, dot)?;
            }
            Node::With(p, body, els) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                let r = if v.truth() {
                    self.nodes(body, &v)
                } else {
                    self.nodes(els, dot)
                };
                self.vars.truncate(mark);
                r?;
            }
            Node::Range(p, body, els) => {
                let mark = self.vars.len();
                let mut inner = p.clone();
                let decl = std::mem::take(&mut inner.decl);
                let v = self.pipe(&inner, dot)?;
                let elems: Vec<(Value, Value)> = match v {
                    Value::Samples(s) => s
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| (Value::Int(i as i64), Value::Sample(s)))
                        .collect(),
                    Value::List(l) => l
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::Int(i as i64), v))
                        .collect(),
                    Value::Map(m) => m
                        .iter()
                        .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone())))
                        .collect(),
                    Value::Int(n) => (0..n.max(0))
                        .map(|i| (Value::Int(i), Value::Int(i)))
                        .collect(),
                    Value::Nil => vec![],
                    other => return Err(format!("range can't iterate over {other}")),
                };
                if elems.is_empty() {
                    self.scoped(els, dot)?;
                }
                for (k, e) in elems {
                    self.step()?;
                    let m = self.vars.len();
                    match decl.len() {
                        0 => {}
                        1 => self.vars.push((decl[0].clone(), e.clone())),
                        _ => {
                            self.vars.push((decl[0].clone(), k));
                            self.vars.push((decl[1].clone(), e.clone()));
                        }
                    }
                    let r = self.nodes(body, &e);
                    self.vars.truncate(m);
                    r?;
                }
                self.vars.truncate(mark);
            }
            Node::Template(name, p) => {
                let body = self
                    .defines
                    .get(name)
                    .ok_or_else(|| format!("no such template {name:?}"))?;
                let d = match p {
                    Some(p) => self.pipe(p, dot)?,
                    None => Value::Nil,
                };
                let saved = std::mem::replace(&mut self.vars, vec![("$".into(), d.clone())]);
                let r = self.nodes(body, &d);
                self.vars = saved;
                r?;
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, String> {
        let mut val: Option<Value> = None;
        for cmd in &p.cmds {
            val = Some(self.cmd(cmd, dot, val)?);
        }
        let v = val.unwrap_or(Value::Nil);
        if p.assign {
            for name in &p.decl {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(format!("undefined variable: {name}")),
                }
            }
        } else {
            for name in &p.decl {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn cmd(&mut self, cmd: &[Arg], dot: &Value, piped: Option<Value>) -> Result<Value, String> {
        match &cmd[0] {
            Arg::Func(name) => {
                let mut args = Vec::with_capacity(cmd.len());
                // `and`/`or` stop at the first deciding argument, as Go's do.
                if name == "and" || name == "or" {
                    let mut last = Value::Nil;
                    let all: Vec<&Arg> = cmd[1..].iter().collect();
                    for a in &all {
                        last = self.arg(a, dot)?;
                        if (name == "and") != last.truth() {
                            return Ok(last);
                        }
                    }
                    if let Some(p) = piped {
                        last = p;
                    }
                    return Ok(last);
                }
                for a in &cmd[1..] {
                    args.push(self.arg(a, dot)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                funcs::call(name, args, self.ctx)
            }
            _ if cmd.len() > 1 || piped.is_some() => {
                Err("can't give argument to non-function".to_string())
            }
            a => self.arg(a, dot),
        }
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, String> {
        Ok(match a {
            Arg::Field(path) => walk(dot.clone(), path)?,
            Arg::Var(name, path) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable: {name}"))?;
                walk(v, path)?
            }
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Num(n) => Value::Num(*n),
            Arg::Int(i) => Value::Int(*i),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
            Arg::Func(name) => funcs::call(name, vec![], self.ctx)?,
            Arg::Pipe(p, chain) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                self.vars.truncate(mark);
                walk(v, chain)?
            }
        })
    }
}

fn walk(mut v: Value, path: &[String]) -> Result<Value, String> {
    for f in path {
        v = match v {
            Value::Map(m) => Value::Str(m.get(f).cloned().unwrap_or_default()),
            Value::Sample(s) => match f.as_str() {
                "Labels" => Value::Map(Arc::new(s.labels)),
                "Value" => Value::Num(s.value),
                _ => return Err(format!("can't evaluate field {f} in type *template.sample")),
            },
            Value::Struct(m) => m
                .get(f)
                .cloned()
                .ok_or_else(|| format!("can't evaluate field {f} in type struct"))?,
            Value::Nil => Value::Nil,
            other => {
                return Err(format!(
                    "can't evaluate field {f} in type {}",
                    other.go_type()
                ))
            }
        };
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
