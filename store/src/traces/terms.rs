//! Per-row-group summaries of a span file (format 2): the distinct span names and service
//! names (when few), the span and resource attribute keys (when few), the kinds and
//! statuses present, the duration range, and a bloom filter of string attribute
//! `key=value` terms. A search predicate that no span of a row group can satisfy by these
//! skips the row group unread. Kept as JSON in the file's key-value metadata, one entry
//! per row group, in row-group order.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::row::SpanRow;
use crate::model::span::AttrValue;
use crate::{AttrWhere, SpanCond, SpanPredicate, StrMatch};

/// Above this many distinct values a set is not kept (`None`: anything may be there).
const MAX_SET: usize = 512;
/// Bloom filter bits per distinct term (about 1% false positives with 7 probes).
const BITS_PER_TERM: usize = 10;
const PROBES: u64 = 7;
/// Largest bloom filter per row group, bits.
const MAX_BLOOM_BITS: usize = 1 << 18;

const SERVICE_KEY: &str = "service.name";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct RowGroupTerms {
    names: Option<BTreeSet<String>>,
    /// Resource `service.name` values as text.
    services: Option<BTreeSet<String>>,
    span_keys: Option<BTreeSet<String>>,
    resource_keys: Option<BTreeSet<String>>,
    /// Bit `k` set: a span of kind `k` (status `k`) is here.
    kinds: u8,
    statuses: u8,
    min_duration: i64,
    max_duration: i64,
    /// Words of a bloom filter over string attribute terms (see [`term_hash`]).
    bloom: Vec<u64>,
}

/// A stable hash of a string attribute term: scope byte, key, value.
fn term_hash(resource: bool, key: &str, value: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(if resource { b"r\xff" } else { b"s\xff" });
    h.update(key.as_bytes());
    h.update(b"\xff");
    h.update(value.as_bytes());
    h.digest()
}

fn probes(hash: u64, bits: usize) -> impl Iterator<Item = usize> {
    let (h1, h2) = (hash, hash.rotate_left(32) | 1);
    (0..PROBES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits as u64) as usize)
}

fn capped(set: BTreeSet<String>) -> Option<BTreeSet<String>> {
    (set.len() <= MAX_SET).then_some(set)
}

fn render(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::Str(s) => Some(s.clone()),
        AttrValue::Int(i) => Some(i.to_string()),
        AttrValue::Float(f) => Some(f.to_string()),
        AttrValue::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl RowGroupTerms {
    /// The summary of one row group's rows.
    pub(crate) fn of(rows: &[SpanRow]) -> RowGroupTerms {
        let mut names = BTreeSet::new();
        let mut services = BTreeSet::new();
        let mut span_keys = BTreeSet::new();
        let mut resource_keys = BTreeSet::new();
        let mut hashes = std::collections::HashSet::new();
        let mut t = RowGroupTerms {
            min_duration: i64::MAX,
            max_duration: i64::MIN,
            ..Default::default()
        };
        let mut last_resource: Option<*const crate::model::span::Attributes> = None;
        for r in rows {
            let s = &r.span;
            if names.len() <= MAX_SET && !names.contains(&s.name) {
                names.insert(s.name.clone());
            }
            t.kinds |= 1 << (s.kind as u8);
            t.statuses |= 1 << (s.status as u8);
            let d = s.end_ns.wrapping_sub(s.start_ns);
            t.min_duration = t.min_duration.min(d);
            t.max_duration = t.max_duration.max(d);
            for (k, v) in &s.attributes {
                if span_keys.len() <= MAX_SET && !span_keys.contains(k) {
                    span_keys.insert(k.clone());
                }
                if let AttrValue::Str(v) = v {
                    hashes.insert(term_hash(false, k, v));
                }
            }
            // Rows of one resource share it: summarize each once per run.
            let rp = std::sync::Arc::as_ptr(&r.resource);
            if last_resource == Some(rp) {
                continue;
            }
            last_resource = Some(rp);
            for (k, v) in r.resource.iter() {
                if resource_keys.len() <= MAX_SET && !resource_keys.contains(k) {
                    resource_keys.insert(k.clone());
                }
                if k == SERVICE_KEY && services.len() <= MAX_SET {
                    if let Some(v) = render(v) {
                        services.insert(v);
                    }
                }
                if let AttrValue::Str(v) = v {
                    hashes.insert(term_hash(true, k, v));
                }
            }
        }
        t.names = capped(names);
        t.services = capped(services);
        t.span_keys = capped(span_keys);
        t.resource_keys = capped(resource_keys);
        let bits = (hashes.len() * BITS_PER_TERM).clamp(64, MAX_BLOOM_BITS);
        let bits = bits.div_ceil(64) * 64;
        t.bloom = vec![0; bits / 64];
        for h in hashes {
            for b in probes(h, bits) {
                t.bloom[b / 64] |= 1 << (b % 64);
            }
        }
        t
    }

    fn bloom_may_hold(&self, resource: bool, key: &str, value: &str) -> bool {
        let bits = self.bloom.len() * 64;
        if bits == 0 {
            return true;
        }
        probes(term_hash(resource, key, value), bits)
            .all(|b| self.bloom[b / 64] & (1 << (b % 64)) != 0)
    }

    /// Whether some row may satisfy `p` (false: none can).
    pub(crate) fn may_match(&self, p: &SpanPredicate) -> bool {
        p.all.iter().all(|c| self.may_satisfy(c))
    }

    fn may_satisfy(&self, c: &SpanCond) -> bool {
        let in_set = |set: &Option<BTreeSet<String>>, m: &StrMatch| match (set, m) {
            (None, _) => true,
            (Some(s), StrMatch::Eq(v)) => s.contains(v),
            (Some(s), m) => s.iter().any(|v| m.matches_str(v)),
        };
        let has_key =
            |set: &Option<BTreeSet<String>>, k: &str| set.as_ref().is_none_or(|s| s.contains(k));
        match c {
            SpanCond::Name(m) => in_set(&self.names, m),
            SpanCond::Status(s) => self.statuses & (1 << (*s as u8)) != 0,
            SpanCond::Kind(k) => self.kinds & (1 << (*k as u8)) != 0,
            SpanCond::MinDuration(d) => self.max_duration >= *d,
            SpanCond::MaxDuration(d) => self.min_duration <= *d,
            SpanCond::Attr { scope, key, value } => {
                let span_side = *scope != AttrWhere::Resource
                    && has_key(&self.span_keys, key)
                    && match value {
                        StrMatch::Eq(v) => self.bloom_may_hold(false, key, v),
                        StrMatch::ContainsFold(_) => true,
                    };
                let resource_side = *scope != AttrWhere::Span
                    && has_key(&self.resource_keys, key)
                    && if key == SERVICE_KEY {
                        in_set(&self.services, value)
                    } else {
                        match value {
                            StrMatch::Eq(v) => self.bloom_may_hold(true, key, v),
                            StrMatch::ContainsFold(_) => true,
                        }
                    };
                span_side || resource_side
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::{ResourceSpans, ScopeSpans, Span, SpanKind, StatusCode};
    use crate::traces::row::rows_of;

    #[test]
    fn summaries_rule_out_only_what_is_absent() {
        let rows = rows_of(&[ResourceSpans {
            resource: vec![("service.name".into(), AttrValue::Str("cart".into()))],
            scopes: vec![ScopeSpans {
                spans: vec![Span {
                    name: "GET /x".into(),
                    kind: SpanKind::Server,
                    start_ns: 10,
                    end_ns: 60,
                    attributes: vec![("http.route".into(), AttrValue::Str("/x".into()))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }]);
        let t = RowGroupTerms::of(&rows);
        let t: RowGroupTerms = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        let may = |c: SpanCond| t.may_match(&SpanPredicate { all: vec![c] });
        assert!(may(SpanCond::service("cart")));
        assert!(!may(SpanCond::service("shop")));
        assert!(may(SpanCond::Name(StrMatch::ContainsFold("get".into()))));
        assert!(!may(SpanCond::Name(StrMatch::Eq("GET /y".into()))));
        assert!(may(SpanCond::Kind(SpanKind::Server)));
        assert!(!may(SpanCond::Kind(SpanKind::Client)));
        assert!(!may(SpanCond::Status(StatusCode::Error)));
        assert!(may(SpanCond::MinDuration(50)));
        assert!(!may(SpanCond::MinDuration(51)));
        assert!(!may(SpanCond::MaxDuration(49)));
        let attr = |scope, key: &str, v: &str| SpanCond::Attr {
            scope,
            key: key.into(),
            value: StrMatch::Eq(v.into()),
        };
        assert!(may(attr(AttrWhere::Span, "http.route", "/x")));
        assert!(may(attr(AttrWhere::Either, "http.route", "/x")));
        assert!(!may(attr(AttrWhere::Resource, "http.route", "/x")));
        assert!(!may(attr(AttrWhere::Span, "http.route", "/nope")));
        assert!(!may(attr(AttrWhere::Span, "other", "/x")));
    }
}
