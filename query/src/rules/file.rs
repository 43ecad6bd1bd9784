//! Rule files in Prometheus' format (`groups:` of recording and alerting rules), parsed and
//! checked the way `promtool check rules` checks them: every problem is reported, each
//! with the line of the group or rule it is about.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{de, Deserialize, Deserializer};

use super::expr::{Lang, RuleExpr};
use crate::promqltest::values::parse_duration;

/// A duration written the Prometheus way (`30s`, `1h30m`), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleDuration(pub i64);

impl<'de> Deserialize<'de> for RuleDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(RuleDuration)
            .map_err(|e| de::Error::custom(format!("{e}: use e.g. 30s, 5m, 1h30m")))
    }
}

/// One rule file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
}

/// A group as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    /// Evaluation interval; `global.evaluation_interval` when absent.
    #[serde(default)]
    pub interval: Option<RuleDuration>,
    /// How far in the past the group's queries are evaluated.
    #[serde(default)]
    pub query_offset: Option<RuleDuration>,
    /// Most alerts or series one rule may produce (0: no limit).
    #[serde(default)]
    pub limit: usize,
    /// Added to every rule's output, below the rule's own labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// A rule as written: `record` or `alert`, never both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(default)]
    pub record: Option<String>,
    #[serde(default)]
    pub alert: Option<String>,
    #[serde(default)]
    pub expr: String,
    #[serde(default, rename = "for")]
    pub for_: Option<RuleDuration>,
    #[serde(default)]
    pub keep_firing_for: Option<RuleDuration>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl RuleSpec {
    /// The alert or record name.
    pub fn name(&self) -> &str {
        self.alert
            .as_deref()
            .or(self.record.as_deref())
            .unwrap_or("")
    }
}

/// A rule file that parsed and passed every check.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub path: PathBuf,
    /// The language of its expressions: PromQL (`rule_files`) or LogQL (`log_rule_files`).
    pub lang: Lang,
    pub file: RuleFile,
}

/// Reads and checks one rule file; every problem found is one entry of the error list,
/// formatted `FILE:LINE: message`.
pub fn load(path: &Path) -> Result<LoadedFile, Vec<String>> {
    load_as(path, Lang::Promql)
}

/// [`load`] for a file whose expressions are in `lang`.
pub fn load_as(path: &Path, lang: Lang) -> Result<LoadedFile, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read rule file: {e}", path.display())])?;
    parse_as(path, &text, lang)
}

/// [`load`] for text already read.
pub fn parse(path: &Path, text: &str) -> Result<LoadedFile, Vec<String>> {
    parse_as(path, text, Lang::Promql)
}

/// [`load_as`] for text already read.
pub fn parse_as(path: &Path, text: &str, lang: Lang) -> Result<LoadedFile, Vec<String>> {
    let file: RuleFile = if text.trim().is_empty() {
        RuleFile::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| vec![format!("{}: {e}", path.display())])?
    };
    let errors = check(&file, text, lang);
    if !errors.is_empty() {
        return Err(errors
            .into_iter()
            .map(|(line, m)| match line {
                Some(l) => format!("{}:{l}: {m}", path.display()),
                None => format!("{}: {m}", path.display()),
            })
            .collect());
    }
    Ok(LoadedFile {
        path: path.to_path_buf(),
        lang,
        file,
    })
}

/// What serde cannot check: names, exactly one of record/alert, expressions and templates
/// that parse, keys that do not belong to the rule's kind.
fn check(file: &RuleFile, text: &str, lang: Lang) -> Vec<(Option<usize>, String)> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for g in &file.groups {
        let gline = find_line(text, 0, "name:", &g.name);
        if g.name.is_empty() {
            errors.push((gline, "group name must not be empty".into()));
        }
        if !seen.insert(g.name.clone()) {
            errors.push((
                gline,
                format!(
                    "{:?}: repeated in the same file: group names must be unique",
                    g.name
                ),
            ));
        }
        if let Some(i) = g.interval {
            if i.0 <= 0 {
                errors.push((
                    gline,
                    format!("group {:?}: interval must be positive", g.name),
                ));
            }
        }
        for name in g.labels.keys() {
            if !lookout_store::model::labels::is_valid_label_name(name) {
                errors.push((
                    gline,
                    format!("group {:?}: invalid label name {name:?}", g.name),
                ));
            }
        }
        let from = gline.unwrap_or(1).saturating_sub(1);
        for (i, r) in g.rules.iter().enumerate() {
            let key = if r.alert.is_some() {
                "alert:"
            } else {
                "record:"
            };
            let line = find_line(text, from, key, r.name()).or(gline);
            for m in check_rule(r, lang) {
                errors.push((
                    line,
                    format!("group {:?}, rule {}, {:?}: {m}", g.name, i + 1, r.name()),
                ));
            }
        }
    }
    errors
}

fn check_rule(r: &RuleSpec, lang: Lang) -> Vec<String> {
    let mut errs = Vec::new();
    match (&r.record, &r.alert) {
        (Some(_), Some(_)) => errs.push("only one of 'record' and 'alert' must be set".into()),
        (None, None) => errs.push("one of 'record' or 'alert' must be set".into()),
        (Some(rec), None) => {
            if rec.is_empty() {
                errs.push("field 'record' must be set in rule".into());
            } else if !is_legacy_metric_name(rec) {
                errs.push(format!("invalid recording rule name: {rec}"));
            }
            if !r.annotations.is_empty() {
                errs.push("invalid field 'annotations' in recording rule".into());
            }
            if r.for_.is_some() {
                errs.push("invalid field 'for' in recording rule".into());
            }
            if r.keep_firing_for.is_some() {
                errs.push("invalid field 'keep_firing_for' in recording rule".into());
            }
        }
        (None, Some(a)) => {
            if a.is_empty() {
                errs.push("field 'alert' must be set in rule".into());
            }
        }
    }
    if r.expr.trim().is_empty() {
        errs.push("field 'expr' must be set in rule".into());
    } else if let Err(e) = RuleExpr::parse(lang, &r.expr) {
        errs.push(format!("could not parse expression: {e}"));
    }
    for (name, value) in &r.labels {
        if name == "__name__" {
            errs.push("invalid label name: __name__".into());
        } else if !lookout_store::model::labels::is_valid_label_name(name) {
            errs.push(format!("invalid label name: {name}"));
        }
        if r.alert.is_some() {
            if let Err(e) = super::template::Template::parse(value) {
                errs.push(format!("label {name:?}: {e}"));
            }
        }
    }
    for (name, value) in &r.annotations {
        if !lookout_store::model::labels::is_valid_label_name(name) {
            errs.push(format!("invalid annotation name: {name}"));
        }
        if let Err(e) = super::template::Template::parse(value) {
            errs.push(format!("annotation {name:?}: {e}"));
        }
    }
    errs
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: what a recording rule may be named (Prometheus' rule files
/// keep the classic metric-name syntax).
fn is_legacy_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The 1-based line at or after line `from` (0-based) whose key is `key` and whose text
/// holds `value`.
fn find_line(text: &str, from: usize, key: &str, value: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            t.starts_with(key) && t.contains(value)
        })
        .map(|(i, _)| i + 1)
}

/// Expands `rule_files` patterns: `*`, `?` and `[...]` in any path element (Go's
/// `filepath.Glob`), relative paths against `base` (the config file's directory). A
/// pattern matching nothing is not an error, as in Prometheus.
pub fn expand(patterns: &[String], base: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let full = if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base.join(p)
        };
        let pattern = full.to_string_lossy();
        let paths = glob::glob(&pattern)
            .map_err(|e| format!("rule_files: pattern {p:?} is invalid: {e}"))?;
        let mut found: Vec<PathBuf> = paths.filter_map(|r| r.ok()).collect();
        found.sort();
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_and_reports_every_problem_with_its_line() {
        let ok = "groups:\n  - name: g\n    interval: 30s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: Down\n        expr: up == 0\n        for: 5m\n        annotations:\n          summary: '{{ $labels.instance }} down'\n";
        let f = parse(Path::new("r.yml"), ok).unwrap();
        assert_eq!(f.file.groups[0].interval, Some(RuleDuration(30_000)));
        assert_eq!(f.file.groups[0].rules[1].for_, Some(RuleDuration(300_000)));

        let bad = "groups:\n  - name: g\n    rules:\n      - record: 'bad name'\n        expr: up\n      - alert: X\n        expr: 'sum(('\n      - alert: Y\n        expr: up\n        annotations:\n          a: '{{ .Foo '\n";
        let errs = parse(Path::new("r.yml"), bad).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("r.yml:4: "), "{errs:?}");
        assert!(errs[1].starts_with("r.yml:6: ") && errs[1].contains("could not parse"));
        assert!(errs[2].starts_with("r.yml:8: ") && errs[2].contains("annotation"));

        let errs = parse(Path::new("r.yml"), "groups:\n  - name: g\n    rulez: []\n").unwrap_err();
        assert!(errs[0].contains("rulez"), "{errs:?}");
    }
}
