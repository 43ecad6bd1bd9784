//! Prometheus relabeling: `relabel_configs` (targets, before a scrape) and
//! `metric_relabel_configs` (series, after parsing), every action with Prometheus'
//! semantics: anchored RE2-style regexes, `$1`/`${name}` expansion, an empty result of
//! `replace` deleting the target label, `hashmod` over the MD5 of the joined values.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};

/// Labels while they are being relabeled: sorted, one value per name.
pub type LabelMap = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return Err(serde::de::Error::custom(format!(
                "relabel action \"{s}\" is unknown: use replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase or uppercase"
            ))),
        })
    }
}

/// One relabel rule as written in the config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default = "default_regex")]
    pub regex: String,
    #[serde(default)]
    pub modulus: u64,
    #[serde(default)]
    pub target_label: String,
    #[serde(default = "default_replacement")]
    pub replacement: String,
    #[serde(default = "default_action")]
    pub action: Action,
}

fn default_separator() -> String {
    ";".into()
}
fn default_regex() -> String {
    "(.*)".into()
}
fn default_replacement() -> String {
    "$1".into()
}
fn default_action() -> Action {
    Action::Replace
}

impl RelabelConfig {
    /// Checks the rule the way Prometheus' config loader does, so a rule that Prometheus
    /// refuses is refused here too.
    pub fn check(&self) -> Result<(), String> {
        let a = format!("{:?}", self.action).to_lowercase();
        compile(&self.regex)?;
        let needs_target = matches!(
            self.action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return Err(format!("relabel action \"{a}\" requires target_label"));
        }
        if matches!(
            self.action,
            Action::Lowercase
                | Action::Uppercase
                | Action::HashMod
                | Action::KeepEqual
                | Action::DropEqual
        ) && !lookout_store::model::labels::is_valid_label_name(&self.target_label)
        {
            return Err(format!(
                "target_label \"{}\" is invalid for action \"{a}\": must match [a-zA-Z_][a-zA-Z0-9_]*",
                self.target_label
            ));
        }
        if self.action == Action::Replace
            && !self.target_label.contains('$')
            && !lookout_store::model::labels::is_valid_label_name(&self.target_label)
        {
            return Err(format!(
                "target_label \"{}\" is invalid: must match [a-zA-Z_][a-zA-Z0-9_]* or hold $ references",
                self.target_label
            ));
        }
        if self.action == Action::HashMod && self.modulus == 0 {
            return Err("relabel action \"hashmod\" requires a modulus above 0".into());
        }
        if matches!(self.action, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != ";"
                || self.replacement != "$1")
        {
            return Err(format!(
                "relabel action \"{a}\" takes only regex: source_labels, target_label, modulus, separator and replacement must be left out"
            ));
        }
        if matches!(self.action, Action::KeepEqual | Action::DropEqual)
            && (self.regex != "(.*)" || self.modulus != 0 || self.replacement != "$1")
        {
            return Err(format!(
                "relabel action \"{a}\" takes source_labels and target_label only"
            ));
        }
        if self.action == Action::LabelMap
            && !self.replacement.contains('$')
            && !lookout_store::model::labels::is_valid_label_name(&self.replacement)
        {
            return Err(format!(
                "replacement \"{}\" is not a valid label name for action \"labelmap\"",
                self.replacement
            ));
        }
        Ok(())
    }
}

fn compile(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?s:{re})$"))
        .map_err(|e| format!("relabel regex \"{re}\" is invalid: {e}"))
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    cfg: RelabelConfig,
    re: Regex,
}

/// Compiled rules, applied in order.
#[derive(Debug, Clone, Default)]
pub struct Relabeler {
    rules: Vec<Rule>,
}

impl Relabeler {
    pub fn new(cfgs: &[RelabelConfig]) -> Result<Relabeler, String> {
        let mut rules = Vec::with_capacity(cfgs.len());
        for c in cfgs {
            c.check()?;
            rules.push(Rule {
                cfg: c.clone(),
                re: compile(&c.regex)?,
            });
        }
        Ok(Relabeler { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule; false when a rule dropped the label set (or it ended empty).
    pub fn process(&self, lb: &mut LabelMap) -> bool {
        for r in &self.rules {
            if !r.apply(lb) {
                return false;
            }
        }
        !lb.is_empty()
    }
}

impl Rule {
    fn apply(&self, lb: &mut LabelMap) -> bool {
        let c = &self.cfg;
        let val = || {
            let mut v = String::new();
            for (i, n) in c.source_labels.iter().enumerate() {
                if i > 0 {
                    v.push_str(&c.separator);
                }
                if let Some(x) = lb.get(n) {
                    v.push_str(x);
                }
            }
            v
        };
        match c.action {
            Action::Drop => !self.re.is_match(&val()),
            Action::Keep => self.re.is_match(&val()),
            Action::DropEqual => lb.get(&c.target_label).map(String::as_str).unwrap_or("") != val(),
            Action::KeepEqual => lb.get(&c.target_label).map(String::as_str).unwrap_or("") == val(),
            Action::Replace => {
                let v = val();
                let Some(caps) = self.re.captures(&v) else {
                    return true;
                };
                let mut target = String::new();
                caps.expand(&c.target_label, &mut target);
                if !lookout_store::model::labels::is_valid_label_name(&target) {
                    return true;
                }
                let mut res = String::new();
                caps.expand(&c.replacement, &mut res);
                if res.is_empty() {
                    lb.remove(&target);
                } else {
                    lb.insert(target, res);
                }
                true
            }
            Action::Lowercase => {
                let v = val().to_lowercase();
                lb.insert(c.target_label.clone(), v);
                true
            }
            Action::Uppercase => {
                let v = val().to_uppercase();
                lb.insert(c.target_label.clone(), v);
                true
            }
            Action::HashMod => {
                let h = Md5::digest(val().as_bytes());
                let mut last = [0u8; 8];
                last.copy_from_slice(&h[8..16]);
                let m = u64::from_be_bytes(last) % c.modulus;
                lb.insert(c.target_label.clone(), m.to_string());
                true
            }
            Action::LabelMap => {
                let mut add = Vec::new();
                for (n, v) in lb.iter() {
                    if self.re.is_match(n) {
                        let new = self.re.replace(n, c.replacement.as_str()).into_owned();
                        add.push((new, v.clone()));
                    }
                }
                lb.extend(add);
                true
            }
            Action::LabelDrop => {
                lb.retain(|n, _| !self.re.is_match(n));
                true
            }
            Action::LabelKeep => {
                lb.retain(|n, _| self.re.is_match(n));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lm(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn run(yaml: &str, input: &[(&str, &str)]) -> Option<LabelMap> {
        let cfgs: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap();
        let r = Relabeler::new(&cfgs).unwrap();
        let mut lb = lm(input);
        r.process(&mut lb).then_some(lb)
    }

    /// Cases from Prometheus' documentation and `model/relabel/relabel_test.go`.
    #[test]
    fn every_action_as_prometheus_documents_it() {
        let abc = [("a", "foo"), ("b", "bar"), ("c", "baz")];
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let cases: Vec<(&str, &str, Pairs, Option<Pairs>)> = vec![
            ("replace with a capture group",
             "[{source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}]",
             &abc, Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")])),
            ("replace joins source labels with the separator",
             "[{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}]",
             &abc, Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz")])),
            ("replace does nothing when the regex does not match (it is anchored)",
             "[{source_labels: [a], regex: 'o', target_label: d}]",
             &abc, Some(&abc)),
            ("replace with an empty result deletes the target label",
             "[{source_labels: [missing], regex: '(.*)', target_label: a}]",
             &abc, Some(&[("b", "bar"), ("c", "baz")])),
            ("replace with a templated target label",
             "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}'}]",
             &[("a", "some-name-value")], Some(&[("a", "some-name-value"), ("name", "value")])),
            ("replace skips an invalid expanded target label",
             "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${3}', replacement: '${1}'}]",
             &[("a", "some-name-value")], Some(&[("a", "some-name-value")])),
            ("replace defaults: regex (.*), replacement $1",
             "[{source_labels: [b], target_label: x}]",
             &abc, Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("x", "bar")])),
            ("keep keeps a match", "[{source_labels: [a], regex: 'f.*', action: keep}]", &abc, Some(&abc)),
            ("keep drops a non-match", "[{source_labels: [a], regex: 'f', action: keep}]", &abc, None),
            ("keep of an absent label matches the empty string",
             "[{source_labels: [z], regex: '', action: keep}]", &abc, Some(&abc)),
            ("drop drops a match", "[{source_labels: [a], regex: 'f.*', action: drop}]", &abc, None),
            ("drop keeps a non-match", "[{source_labels: [a], regex: 'f', action: drop}]", &abc, Some(&abc)),
            ("keepequal keeps equal values",
             "[{source_labels: [a], target_label: x, action: keepequal}]",
             &[("a", "1"), ("x", "1")], Some(&[("a", "1"), ("x", "1")])),
            ("keepequal drops different values",
             "[{source_labels: [a], target_label: x, action: keepequal}]",
             &[("a", "1"), ("x", "2")], None),
            ("dropequal drops equal values",
             "[{source_labels: [a], target_label: x, action: dropequal}]",
             &[("a", "1"), ("x", "1")], None),
            ("dropequal keeps different values",
             "[{source_labels: [a], target_label: x, action: dropequal}]",
             &[("a", "1"), ("x", "2")], Some(&[("a", "1"), ("x", "2")])),
            ("hashmod: last 8 bytes of MD5, big-endian, modulo",
             "[{source_labels: [c], target_label: d, modulus: 1000, action: hashmod}]",
             &abc, Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")])),
            ("labelmap copies matching names",
             "[{regex: '__meta_(.+)', action: labelmap}]",
             &[("__meta_env", "prod"), ("a", "1")],
             Some(&[("__meta_env", "prod"), ("a", "1"), ("env", "prod")])),
            ("labelmap with a replacement template",
             "[{regex: '(b.*)', replacement: 'x_${1}', action: labelmap}]",
             &abc, Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("x_b", "bar")])),
            ("labeldrop removes matching names",
             "[{regex: '[ab]', action: labeldrop}]", &abc, Some(&[("c", "baz")])),
            ("labelkeep keeps matching names",
             "[{regex: '[ab]', action: labelkeep}]", &abc, Some(&[("a", "foo"), ("b", "bar")])),
            ("labeldrop is anchored",
             "[{regex: 'a.', action: labeldrop}]", &abc, Some(&abc)),
            ("lowercase", "[{source_labels: [a, b], separator: '-', target_label: y, action: lowercase}]",
             &[("a", "FoO"), ("b", "BAR")], Some(&[("a", "FoO"), ("b", "BAR"), ("y", "foo-bar")])),
            ("uppercase", "[{source_labels: [a], target_label: a, action: uppercase}]",
             &[("a", "foo")], Some(&[("a", "FOO")])),
            ("actions are read case-insensitively", "[{source_labels: [a], regex: 'foo', action: Drop}]", &abc, None),
            ("rules apply in order",
             "[{source_labels: [a], target_label: z}, {source_labels: [z], regex: foo, action: drop}]",
             &abc, None),
            ("dropping every label drops the set", "[{regex: '.*', action: labeldrop}]", &abc, None),
        ];
        for (what, yaml, input, want) in cases {
            let got = run(yaml, input);
            assert_eq!(got, want.map(lm), "{what}");
        }
    }

    #[test]
    fn invalid_rules_are_refused() {
        for (yaml, want) in [
            ("[{action: replace}]", "target_label"),
            ("[{action: hashmod, target_label: x}]", "modulus"),
            (
                "[{action: labeldrop, regex: a, source_labels: [x]}]",
                "only regex",
            ),
            ("[{action: lowercase, target_label: '1x'}]", "invalid"),
            ("[{regex: '(', target_label: x}]", "regex"),
            (
                "[{action: keepequal, target_label: x, regex: a}]",
                "source_labels and target_label only",
            ),
        ] {
            let cfgs: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap();
            let e = Relabeler::new(&cfgs).unwrap_err();
            assert!(e.contains(want), "{yaml}: {e}");
        }
        let e = serde_yaml::from_str::<Vec<RelabelConfig>>("[{action: explode}]").unwrap_err();
        assert!(e.to_string().contains("explode"), "{e}");
    }
}
