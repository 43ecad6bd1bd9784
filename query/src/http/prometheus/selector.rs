//! Series selectors (`match[]`): parsed with the promql-parser crate and turned into the
//! store's matchers. A selector with `or` inside its braces becomes several matcher groups,
//! whose results are united.

use lookout_store::Matcher;
use promql_parser::parser::Expr;

use crate::error::{Error, Result};
use crate::promql::Engine;

/// The matcher groups of one selector string, parsed under the engine's length and depth
/// limits.
pub fn parse_selector(engine: &Engine, s: &str) -> Result<Vec<Vec<Matcher>>> {
    let expr = engine
        .parse(s)
        .map_err(|e| Error::BadData(format!("invalid parameter \"match[]\": {e}")))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(Error::BadData(format!(
            "invalid parameter \"match[]\": {s:?} is not a series selector such as up{{job=\"api\"}}"
        )));
    };
    let out = crate::promql::storage::matcher_groups(&vs)?;
    for ms in &out {
        if ms.iter().all(|m| m.matches_empty()) {
            return Err(Error::BadData(format!(
                "invalid parameter \"match[]\": {s}: vector selector must contain at least one non-empty matcher"
            )));
        }
    }
    Ok(out)
}

/// Every `match[]` parameter's groups, flattened.
pub fn parse_all(engine: &Engine, selectors: &[&str]) -> Result<Vec<Vec<Matcher>>> {
    let mut out = Vec::new();
    for s in selectors {
        out.extend(parse_selector(engine, s)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let g = parse_selector(&Engine::default(), r#"up{job=~"a|b", instance!=""}"#).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].len(), 3);
        assert_eq!(g[0][0].to_string(), "__name__=\"up\"");
        assert!(parse_selector(&Engine::default(), r#"{job=""}"#)
            .unwrap_err()
            .to_string()
            .contains("non-empty matcher"));
        assert!(parse_selector(&Engine::default(), "sum(up)").is_err());
        assert!(parse_selector(&Engine::default(), "up{").is_err());
    }
}
