//! Value models: how each series' value evolves from one scrape to the next
//! (constants, counters, bounded gauges, noisy floats, the clock).

use crate::rng::{sround, tri, unit};

/// value = integer state converted the way exporters do it (ticks / 100, kB * 1024, ...)
#[derive(Clone, Copy, Debug)]
pub enum Scale {
    One,
    Div(f64),
    Mul(f64),
}
impl Scale {
    #[inline]
    pub fn apply(self, v: i64) -> f64 {
        match self {
            Scale::One => v as f64,
            Scale::Div(d) => v as f64 / d,
            Scale::Mul(m) => v as f64 * m,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Model {
    Const(f64),
    /// monotonic counter: with probability `p` per scrape, increase by ~inc*(1±cv) units
    Counter {
        v: i64,
        inc: f64,
        cv: f64,
        p: f64,
        scale: Scale,
    },
    /// slow bounded random walk with mean reversion towards `target`
    Gauge {
        v: i64,
        lo: i64,
        hi: i64,
        sigma: f64,
        p: f64,
        target: f64,
        revert: f64,
        scale: Scale,
    },
    /// full-precision noisy float (durations, ratios): mean*(1 + rel*tri)
    Noisy {
        mean: f64,
        rel: f64,
    },
    /// node_time_seconds: scrape time in seconds with sub-ms noise
    Clock,
}

impl Model {
    #[inline]
    pub fn value(&mut self, rng: &mut u64, first: bool, ts_ms: i64) -> f64 {
        match self {
            Model::Const(c) => *c,
            Model::Counter {
                v,
                inc,
                cv,
                p,
                scale,
            } => {
                if !first && (*p >= 1.0 || unit(rng) < *p) {
                    let x = *inc * (1.0 + *cv * tri(rng));
                    *v += sround(x.max(0.0), rng);
                }
                scale.apply(*v)
            }
            Model::Gauge {
                v,
                lo,
                hi,
                sigma,
                p,
                target,
                revert,
                scale,
            } => {
                if !first && (*p >= 1.0 || unit(rng) < *p) {
                    let pull = (*target - *v as f64) * *revert;
                    *v += sround(pull + *sigma * tri(rng), rng);
                    *v = (*v).clamp(*lo, *hi);
                }
                scale.apply(*v)
            }
            Model::Noisy { mean, rel } => *mean * (1.0 + *rel * tri(rng)),
            Model::Clock => ts_ms as f64 / 1e3 + unit(rng) * 2e-3,
        }
    }
}
