//! Where a sub-expression starts in the query text, for annotations' `(line:col)`.
//!
//! The promql-parser AST carries no positions, so they are recovered by walking the AST
//! in source order alongside a token stream of the query: every node knows which tokens
//! it was written with (a selector its name, braces, range and modifiers; a call its name,
//! parentheses and commas), so the token under the cursor when a node is entered is where
//! it starts. If the walk and the tokens ever disagree, positions are left out rather than
//! guessed.

use std::collections::HashMap;

use promql_parser::parser::Expr;

/// 1-based line and column (in bytes) of `node` (a node inside `root`) in `query`.
pub fn locate(query: &str, root: &Expr, node: *const Expr) -> Option<(usize, usize)> {
    let toks = tokenize(query);
    let mut w = Walker {
        q: query,
        toks,
        i: 0,
        starts: HashMap::new(),
        ok: true,
    };
    w.walk(root);
    if !w.ok {
        return None;
    }
    let offset = *w.starts.get(&node)?;
    let before = &query[..offset.min(query.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|p| p + 1).unwrap_or(0) + 1;
    Some((line, col))
}

struct Tok {
    start: usize,
    end: usize,
}

fn tokenize(q: &str) -> Vec<Tok> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' && c != b'`' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
        } else if c.is_ascii_digit()
            || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            while i < b.len() {
                let d = b[i];
                let exponent_sign = (d == b'+' || d == b'-')
                    && matches!(b[i - 1], b'e' | b'E')
                    && !q[start..i].starts_with("0x");
                if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' || c >= 0x80 {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':' || b[i] >= 0x80)
            {
                i += 1;
            }
        } else {
            let two = &q[i..(i + 2).min(q.len())];
            i += if matches!(two, "==" | "!=" | ">=" | "<=" | "=~" | "!~") {
                2
            } else {
                1
            };
        }
        out.push(Tok { start, end: i });
    }
    out
}

struct Walker<'a> {
    q: &'a str,
    toks: Vec<Tok>,
    i: usize,
    starts: HashMap<*const Expr, usize>,
    ok: bool,
}

impl Walker<'_> {
    fn cur(&self) -> &str {
        match self.toks.get(self.i) {
            Some(t) => &self.q[t.start..t.end],
            None => "",
        }
    }

    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .map(|t| t.start)
            .unwrap_or(self.q.len())
    }

    fn expect(&mut self, s: &str) {
        if self.cur() == s {
            self.i += 1;
        } else {
            self.ok = false;
        }
    }

    /// Skips a bracketed group starting at the current token (`(`, `{` or `[`).
    fn skip_group(&mut self) {
        let open = self.cur().to_string();
        let close = match open.as_str() {
            "(" => ")",
            "{" => "}",
            "[" => "]",
            _ => return,
        };
        let mut depth = 0;
        while self.i < self.toks.len() {
            let t = self.cur();
            if t == open {
                depth += 1;
            } else if t == close {
                depth -= 1;
                if depth == 0 {
                    self.i += 1;
                    return;
                }
            }
            self.i += 1;
        }
        self.ok = false;
    }

    /// `offset <duration>` and `@ <time>` in any order.
    fn modifiers(&mut self) {
        loop {
            match self.cur().to_ascii_lowercase().as_str() {
                "offset" => {
                    self.i += 1;
                    if matches!(self.cur(), "-" | "+") {
                        self.i += 1;
                    }
                    self.i += 1;
                }
                "@" => {
                    self.i += 1;
                    if matches!(self.cur(), "-" | "+") {
                        self.i += 1;
                    }
                    self.i += 1;
                    if self.cur() == "(" {
                        self.skip_group();
                    }
                }
                _ => return,
            }
        }
    }

    fn selector_tokens(&mut self) {
        if self.cur() != "{" {
            self.i += 1;
        }
        if self.cur() == "{" {
            self.skip_group();
        }
    }

    fn walk(&mut self, e: &Expr) {
        if !self.ok {
            return;
        }
        self.starts.insert(e as *const Expr, self.pos());
        match e {
            Expr::Binary(b) => {
                self.walk(&b.lhs);
                self.i += 1; // the operator
                loop {
                    match self.cur().to_ascii_lowercase().as_str() {
                        "bool" => self.i += 1,
                        "on" | "ignoring" | "group_left" | "group_right" | "fill" | "fill_left"
                        | "fill_right" => {
                            self.i += 1;
                            if self.cur() == "(" {
                                self.skip_group();
                            }
                        }
                        _ => break,
                    }
                }
                self.walk(&b.rhs);
            }
            Expr::Paren(p) => {
                self.expect("(");
                self.walk(&p.expr);
                self.expect(")");
            }
            Expr::Unary(u) => {
                if matches!(self.cur(), "-" | "+") {
                    self.i += 1;
                }
                self.walk(&u.expr);
            }
            Expr::NumberLiteral(_) => {
                while matches!(self.cur(), "-" | "+") {
                    self.i += 1;
                }
                self.i += 1;
            }
            Expr::StringLiteral(_) => self.i += 1,
            Expr::VectorSelector(_) => {
                self.selector_tokens();
                self.modifiers();
            }
            Expr::MatrixSelector(_) => {
                self.selector_tokens();
                if self.cur() == "[" {
                    self.skip_group();
                }
                self.modifiers();
            }
            Expr::Subquery(sq) => {
                self.walk(&sq.expr);
                if self.cur() == "[" {
                    self.skip_group();
                } else {
                    self.ok = false;
                }
                self.modifiers();
            }
            Expr::Call(c) => {
                self.i += 1;
                self.expect("(");
                for (k, a) in c.args.args.iter().enumerate() {
                    if k > 0 {
                        self.expect(",");
                    }
                    self.walk(a);
                }
                if self.cur() == "," {
                    self.i += 1;
                }
                self.expect(")");
            }
            Expr::Aggregate(a) => {
                self.i += 1;
                if matches!(self.cur().to_ascii_lowercase().as_str(), "by" | "without") {
                    self.i += 1;
                    self.skip_group();
                }
                self.expect("(");
                if let Some(p) = &a.param {
                    self.walk(p);
                    self.expect(",");
                }
                self.walk(&a.expr);
                if self.cur() == "," {
                    self.i += 1;
                }
                self.expect(")");
                if matches!(self.cur().to_ascii_lowercase().as_str(), "by" | "without") {
                    self.i += 1;
                    self.skip_group();
                }
            }
            Expr::Extension(_) => self.ok = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos_of(q: &str, pick: impl Fn(&Expr) -> &Expr) -> Option<(usize, usize)> {
        let e = promql_parser::parser::parse(q).unwrap();
        let n = pick(&e) as *const Expr;
        locate(q, &e, n)
    }

    #[test]
    fn call_arguments_and_nested_calls() {
        let q = "histogram_quantile(0.8, series)";
        let p = pos_of(q, |e| match e {
            Expr::Call(c) => &c.args.args[1],
            _ => e,
        });
        assert_eq!(p, Some((1, 25)));
        let q = "sum(sort(series))";
        let p = pos_of(q, |e| match e {
            Expr::Aggregate(a) => &a.expr,
            _ => e,
        });
        assert_eq!(p, Some((1, 5)));
        let q = "rate(foo{a=\"(\"}[5m] offset 1m) + on(a) group_left(b) -bar @ 100";
        let p = pos_of(q, |e| match e {
            Expr::Binary(b) => &b.rhs,
            _ => e,
        });
        assert_eq!(p, Some((1, 54)));
    }
}
