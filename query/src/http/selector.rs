//! Series selectors (`match[]`): parsed with the promql-parser crate and turned into the
//! store's matchers. A selector with `or` inside its braces becomes several matcher groups,
//! whose results are united.

use lookout_store::{MatchOp, Matcher};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self, Expr};

use crate::error::{Error, Result};

/// The matcher groups of one selector string.
pub fn parse_selector(s: &str) -> Result<Vec<Vec<Matcher>>> {
    let expr = parser::parse(s)
        .map_err(|e| Error::BadData(format!("invalid parameter \"match[]\": {e}")))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(Error::BadData(format!(
            "invalid parameter \"match[]\": {s:?} is not a series selector such as up{{job=\"api\"}}"
        )));
    };
    let mut groups: Vec<Vec<promql_parser::label::Matcher>> = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        groups.push(vs.matchers.matchers.clone());
    } else {
        groups.extend(vs.matchers.or_matchers.iter().cloned());
    }
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let mut ms = Vec::with_capacity(g.len() + 1);
        if let Some(name) = &vs.name {
            if !g.iter().any(|m| m.name == "__name__") {
                ms.push(Matcher::equal("__name__", name.clone()));
            }
        }
        for m in g {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::RegexMatch,
                PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
            };
            ms.push(Matcher::new(op, m.name, m.value)?);
        }
        if ms.iter().all(|m| m.matches_empty()) {
            return Err(Error::BadData(format!(
                "invalid parameter \"match[]\": {s}: vector selector must contain at least one non-empty matcher"
            )));
        }
        out.push(ms);
    }
    Ok(out)
}

/// Every `match[]` parameter's groups, flattened.
pub fn parse_all(selectors: &[&str]) -> Result<Vec<Vec<Matcher>>> {
    let mut out = Vec::new();
    for s in selectors {
        out.extend(parse_selector(s)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let g = parse_selector(r#"up{job=~"a|b", instance!=""}"#).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].len(), 3);
        assert_eq!(g[0][0].to_string(), "__name__=\"up\"");
        assert!(parse_selector(r#"{job=""}"#)
            .unwrap_err()
            .to_string()
            .contains("non-empty matcher"));
        assert!(parse_selector("sum(up)").is_err());
        assert!(parse_selector("up{").is_err());
    }
}
