//! A bound on how deep a PromQL query's syntax tree can be, found from its text in one
//! pass before it is parsed.
//!
//! The parser (`promql-parser`), its type checks and our evaluator recurse once per level
//! of the tree, and the parser's checks re-walk both operands of every binary operator, so
//! a 16 KB `1+1+…+1` or 35,000 nested parentheses would overflow the stack (and take
//! quadratic time) inside `parse` itself: the depth has to be known before parsing. Every
//! level of a PromQL tree is an operator (binary or unary) or an opening bracket (a
//! parenthesis, a call's argument list, a range or subquery), so their counts bound it:
//! the bound is exact for the chains and nestings that matter and over-counts only trees
//! that are wide and flat, such as hundreds of operators in one query.

/// An upper bound on the depth of the tree `query` parses to (the levels above its
/// leaves): the number of operators
/// plus the deepest nesting of brackets. String literals, label matchers (`{…}`) and
/// comments count nothing.
pub fn depth_bound(query: &str) -> usize {
    let b = query.as_bytes();
    let mut operators = 0usize;
    let mut open = 0usize;
    let mut deepest = 0usize;
    let mut braces = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => braces += 1,
            b'}' => braces = braces.saturating_sub(1),
            _ if braces > 0 => {}
            b'(' | b'[' => {
                open += 1;
                deepest = deepest.max(open);
            }
            b')' | b']' => open = open.saturating_sub(1),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' => operators += 1,
            // `==` and `!=` count once, at their first character.
            b'=' | b'!' if b.get(i + 1) == Some(&b'=') => {
                operators += 1;
                i += 2;
                continue;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &query[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    operators += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    operators + deepest
}

/// The index just past the string literal that starts at `start` (its quote); a string
/// left open runs to the end, which the parser then reports.
fn skip_string(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' && quote != b'`' {
            i += 2;
            continue;
        }
        if b[i] == quote {
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real depth of a parsed tree, for comparing with the bound.
    fn depth(e: &promql_parser::parser::Expr) -> usize {
        use promql_parser::parser::Expr;
        1 + match e {
            Expr::Aggregate(a) => a
                .param
                .iter()
                .map(|p| depth(p))
                .chain([depth(&a.expr)])
                .max()
                .unwrap_or(0),
            Expr::Unary(u) => depth(&u.expr),
            Expr::Binary(b) => depth(&b.lhs).max(depth(&b.rhs)),
            Expr::Paren(p) => depth(&p.expr),
            Expr::Subquery(s) => depth(&s.expr),
            Expr::Call(c) => c.args.args.iter().map(|a| depth(a)).max().unwrap_or(0),
            _ => 0,
        }
    }

    #[test]
    fn the_bound_is_never_below_the_depth() {
        for q in [
            "1",
            "up",
            "-up",
            "1+1+1+1",
            "((((1))))",
            "sum by (job) (rate(http_requests_total{code!=\"200\", path=~\"/a|/b\"}[5m]))",
            "max_over_time(rate(x[5m])[1h:1m]) > bool 3 and on(a) y unless z or w",
            "histogram_quantile(0.9, sum by (le) (rate(b[5m]))) / (x atan2 y) ^ 2",
            "a - -b * --c",
            "x{a=\"(((\"} + y # (((((\n + z",
            "count_values(\"v\", x) % topk(3, x)",
            "abs(abs(abs(abs(x))))",
            "x == 1 != 2 >= 3 <= 4 > 5 < 6",
        ] {
            let e = promql_parser::parser::parse(q).unwrap();
            // The bound counts the levels above the leaves.
            let (bound, real) = (depth_bound(q), depth(&e) - 1);
            assert!(bound >= real, "{q}: {bound} < {real}");
        }
    }

    #[test]
    fn strings_matchers_and_comments_count_nothing() {
        assert_eq!(depth_bound("x{a=~\"((a|b)+)-(c)\", b!=\"-\"}"), 0);
        assert_eq!(
            depth_bound("label_replace(x, \"a\", \"$1-(x)\", \"b\", \"(.*)\")"),
            1
        );
        assert_eq!(depth_bound("x # ((((( - - -"), 0);
        assert_eq!(depth_bound("x[5m:1m]"), 1);
    }

    #[test]
    fn chains_and_nestings_count_fully() {
        let chain = vec!["1"; 8000].join("+");
        assert_eq!(depth_bound(&chain), 7999);
        let parens = format!("{}1{}", "(".repeat(35_000), ")".repeat(35_000));
        assert_eq!(depth_bound(&parens), 35_000);
        assert_eq!(depth_bound(&"-".repeat(100)), 100);
        assert_eq!(depth_bound("a or b OR c unless d and e"), 4);
    }
}
