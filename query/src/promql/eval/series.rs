//! An instant vector over all steps of an evaluation, and the label bookkeeping the
//! operators share.

use std::collections::HashMap;

use lookout_store::{Label, Labels};

use crate::error::{Error, Result};

/// The bit pattern of an empty slot. A NaN with a payload no arithmetic produces; values
/// read from storage are canonicalised (see [`canonical`]) so data never collides with it.
pub const ABSENT_BITS: u64 = 0x7ff8_dead_beef_0001;
pub const ABSENT: f64 = f64::from_bits(ABSENT_BITS);

pub fn is_absent(v: f64) -> bool {
    v.to_bits() == ABSENT_BITS
}

/// A stored value as the engine holds it: every NaN becomes the one ordinary NaN.
pub fn canonical(v: f64) -> f64 {
    if v.is_nan() {
        f64::NAN
    } else {
        v
    }
}

/// One series of an instant vector, with a value (or [`ABSENT`]) per step.
#[derive(Debug, Clone)]
pub struct Series {
    pub labels: Labels,
    /// `__name__` is to be removed at the end of the query (delayed name removal).
    pub drop_name: bool,
    pub vals: Vec<f64>,
}

impl Series {
    pub fn new(labels: Labels, steps: usize) -> Series {
        Series {
            labels,
            drop_name: false,
            vals: vec![ABSENT; steps],
        }
    }
}

/// What a series of `slots` values holds, as the query budget counts it: the values, the
/// label strings and the bookkeeping around them.
pub fn bytes(labels: &Labels, slots: usize) -> usize {
    let label_bytes: usize = labels
        .iter()
        .map(|l| l.name.len() + l.value.len() + 2 * std::mem::size_of::<String>())
        .sum();
    slots * 8 + label_bytes + std::mem::size_of::<Series>()
}

/// The labels without the metric name. `__type__` and `__unit__` (Prometheus' type-and-unit
/// labels) belong to the name and go with it, as in Prometheus.
pub fn without_name(labels: &Labels) -> Labels {
    without(labels, &["__name__", "__type__", "__unit__"])
}

pub fn without(labels: &Labels, names: &[&str]) -> Labels {
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| !names.contains(&l.name.as_str()))
            .cloned()
            .collect(),
    )
}

/// Sets (or, with an empty value, removes) one label.
pub fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut v: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    if !value.is_empty() {
        let pos = v.partition_point(|l| l.name.as_str() < name);
        v.insert(pos, Label::new(name, value));
    }
    Labels::from_sorted(v)
}

/// Hash of the label pairs a selection keeps: `include` lists the names kept (`on`,
/// `by`), otherwise every label except `names` (and, with `skip_name`, `__name__`).
pub fn signature(labels: &Labels, include: bool, names: &[String], skip_name: bool) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for l in labels.iter() {
        let listed = names.contains(&l.name);
        let keep = if include {
            listed
        } else {
            !(listed || skip_name && l.name == "__name__")
        };
        if keep {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
    }
    h.digest()
}

/// The labels a selection keeps (see [`signature`]).
pub fn select_labels(labels: &Labels, include: bool, names: &[String], skip_name: bool) -> Labels {
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| {
                let listed = names.contains(&l.name);
                if include {
                    listed
                } else {
                    !(listed || skip_name && l.name == "__name__")
                }
            })
            .cloned()
            .collect(),
    )
}

/// Joins series whose label sets are equal (after name dropping) into one, failing like
/// Prometheus when two of them have a value at the same step.
pub fn merge_same_labels(series: Vec<Series>) -> Result<Vec<Series>> {
    // Keyed by label hash; equal hashes are compared in full before merging. Series that
    // only become equal once names are dropped at the end are checked then; here, series
    // equal now (with the same pending drop) are merged.
    let mut index: HashMap<(u64, bool), Vec<usize>> = HashMap::with_capacity(series.len());
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    for s in series {
        let key = (s.labels.hash64(), s.drop_name);
        let found = index
            .get(&key)
            .and_then(|c| c.iter().copied().find(|&i| out[i].labels == s.labels));
        match found {
            Some(i) => {
                let target = &mut out[i];
                for (a, b) in target.vals.iter_mut().zip(s.vals.iter()) {
                    if !is_absent(*b) {
                        if !is_absent(*a) {
                            return Err(Error::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        *a = *b;
                    }
                }
            }
            None => {
                index.entry(key).or_default().push(out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}
