//! Label sets: the identity of a series. Always sorted by name, names unique.

use std::fmt;

use crate::error::{Error, Result};

pub const METRIC_NAME: &str = "__name__";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Which labels of a series a reader needs, when it needs only some: an aggregation
/// `by (a, b)` reads `a` and `b`, one `without (c)` every label but `c` and the metric
/// name. Materializing only those saves most of a wide selection's label copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    /// Only these labels.
    Keep(Vec<String>),
    /// Every label but these.
    Drop(Vec<String>),
}

impl Projection {
    /// Whether label `name` is part of the projection.
    pub fn wants(&self, name: &str) -> bool {
        match self {
            Projection::Keep(names) => names.iter().any(|n| n == name),
            Projection::Drop(names) => !names.iter().any(|n| n == name),
        }
    }

    /// `labels` with only the labels this projection wants.
    pub fn apply(&self, labels: Labels) -> Labels {
        let mut v = labels.0;
        v.retain(|l| self.wants(&l.name));
        Labels(v)
    }
}

/// A sorted set of labels. Construct with [`Labels::from_pairs`] (sorts) or
/// [`Labels::from_sorted`] (trusts the caller, validated by [`Labels::validate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut v: Vec<Label> = pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect();
        v.sort();
        v.dedup_by(|a, b| a.name == b.name);
        Labels(v)
    }

    /// Labels already sorted by name. Use [`Labels::validate`] on untrusted input.
    pub fn from_sorted(v: Vec<Label>) -> Self {
        Labels(v)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// A stable 64-bit hash of the label set (xxh3 over name/value with separators).
    /// Collisions are possible; the store checks full label equality behind it.
    pub fn hash64(&self) -> u64 {
        hash_pairs(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }

    /// Checks what remote_write and every other writer must hold: a non-empty metric name,
    /// valid label names ([`validate_label_name`]), names sorted and unique, no empty values
    /// (an empty value is the same as an absent label in PromQL, so it must not be stored).
    pub fn validate(&self) -> Result<()> {
        for (i, l) in self.0.iter().enumerate() {
            validate_label_name(&l.name)?;
            if l.value.is_empty() && l.name == METRIC_NAME {
                return Err(Error::BadInput(format!(
                    "series {self} has an empty metric name"
                )));
            }
            if l.value.is_empty() {
                return Err(Error::BadInput(format!(
                    "label {:?} of series {self} has an empty value: leave the label out instead",
                    l.name
                )));
            }
            if i > 0 {
                let prev = &self.0[i - 1].name;
                if *prev == l.name {
                    return Err(Error::BadInput(format!(
                        "duplicate label name {:?} in series {self}",
                        l.name
                    )));
                }
                if *prev > l.name {
                    return Err(Error::BadInput(format!(
                        "labels of series {self} are not sorted by name: {:?} comes after {:?}",
                        l.name, prev
                    )));
                }
            }
        }
        match self.metric_name() {
            None => Err(Error::BadInput(format!(
                "series {self} has no metric name: the {METRIC_NAME} label is required"
            ))),
            Some(_) => Ok(()),
        }
    }
}

/// The rule for label names and metric names alike, as in Prometheus 3: any non-empty UTF-8
/// string (`&str` is UTF-8 already). Writers, relabeling results and PromQL functions that
/// make labels (`label_replace`, `label_join`) all check names with this.
pub fn validate_label_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::BadInput(
            "a label name is empty: label names must be non-empty UTF-8 strings".into(),
        ));
    }
    Ok(())
}

/// The same rule for a metric name (the value of `__name__`).
pub fn validate_metric_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::BadInput(
            "a metric name is empty: metric names must be non-empty UTF-8 strings".into(),
        ));
    }
    Ok(())
}

/// Prometheus 2's legacy name rule, `[a-zA-Z_][a-zA-Z0-9_]*`: names that need no quoting
/// in PromQL and the text exposition format. Not what the store accepts (see
/// [`validate_label_name`]).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

/// xxh3 of `name 0xff value 0xff ...`. Label sets of up to 512 bytes (nearly all) are
/// hashed in one call from a stack buffer, which is several times faster than feeding the
/// streaming hasher piece by piece; longer ones stream the same bytes, so the value is
/// the same either way.
fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> u64 {
    let mut buf = [0u8; 512];
    let mut n = 0;
    for (name, value) in pairs.clone() {
        let end = n + name.len() + value.len() + 2;
        if end > buf.len() {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for (name, value) in pairs {
                h.update(name.as_bytes());
                h.update(&[0xff]);
                h.update(value.as_bytes());
                h.update(&[0xff]);
            }
            return h.digest();
        }
        buf[n..n + name.len()].copy_from_slice(name.as_bytes());
        n += name.len();
        buf[n] = 0xff;
        n += 1;
        buf[n..n + value.len()].copy_from_slice(value.as_bytes());
        n += value.len();
        buf[n] = 0xff;
        n += 1;
    }
    xxhash_rust::xxh3::xxh3_64(&buf[..n])
}

/// Read access to a sorted label set, owned ([`Labels`]) or borrowed from a request
/// buffer (`[(&str, &str)]`), so the write path can find an existing series without
/// building a [`Labels`]; only a new series is turned into one.
pub trait LabelSet {
    fn pair_count(&self) -> usize;
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone;
    fn to_labels(&self) -> Labels;
    /// The same value as [`Labels::hash64`] of the same labels.
    fn hash64(&self) -> u64 {
        hash_pairs(self.pairs())
    }
}

impl LabelSet for Labels {
    fn pair_count(&self) -> usize {
        self.0.len()
    }
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|l| (l.name.as_str(), l.value.as_str()))
    }
    fn to_labels(&self) -> Labels {
        self.clone()
    }
}

impl LabelSet for [(&str, &str)] {
    fn pair_count(&self) -> usize {
        self.len()
    }
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.iter().copied()
    }
    fn to_labels(&self) -> Labels {
        Labels::from_sorted(self.iter().map(|&(n, v)| Label::new(n, v)).collect())
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_order_and_values() {
        let ok = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        assert!(ok.validate().is_ok());
        let no_name = Labels::from_pairs([("job", "a")]);
        assert!(no_name
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no metric name"));
        // One rule for label and metric names: any non-empty UTF-8.
        for (name, value) in [("2xx", "a"), ("é", "a"), ("a-b.c", "a"), ("__x", "a")] {
            let l = Labels::from_pairs([("__name__", "0bad"), (name, value)]);
            assert!(l.validate().is_ok(), "{l}");
        }
        let empty = Labels::from_sorted(vec![Label::new("", "a"), Label::new("__name__", "up")]);
        assert!(empty.validate().unwrap_err().to_string().contains("empty"));
        assert!(validate_label_name("é").is_ok() && validate_label_name("").is_err());
        assert!(validate_metric_name("0bad").is_ok() && validate_metric_name("").is_err());
        let unsorted = Labels::from_sorted(vec![
            Label::new("__name__", "up"),
            Label::new("z", "1"),
            Label::new("a", "1"),
        ]);
        assert!(unsorted
            .validate()
            .unwrap_err()
            .to_string()
            .contains("not sorted"));
        let dup = Labels::from_sorted(vec![
            Label::new("__name__", "up"),
            Label::new("a", "1"),
            Label::new("a", "2"),
        ]);
        assert!(dup
            .validate()
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
    }

    #[test]
    fn hash_is_order_sensitive_on_boundaries() {
        let a = Labels::from_pairs([("a", "bc")]);
        let b = Labels::from_pairs([("ab", "c")]);
        assert_ne!(a.hash64(), b.hash64());
    }
}
