//! Deterministic randomness: a splitmix64 stream per seed and the small
//! distributions (uniform, log-uniform, triangular, stochastic rounding) built on it.

#[inline]
pub fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
#[inline]
pub fn unit(s: &mut u64) -> f64 {
    (splitmix(s) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
/// triangular in (-1, 1), mean 0
#[inline]
pub fn tri(s: &mut u64) -> f64 {
    unit(s) + unit(s) - 1.0
}
#[inline]
pub fn uniform(s: &mut u64, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(s)
}
/// log-uniform in [lo, hi]
pub fn logu(s: &mut u64, lo: f64, hi: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * unit(s)).exp()
}
pub fn pick<'a, T>(s: &mut u64, xs: &'a [T]) -> &'a T {
    &xs[(splitmix(s) % xs.len() as u64) as usize]
}
pub fn hash3(a: u64, b: u64, c: u64) -> u64 {
    let mut s = a ^ b.wrapping_mul(0xA24B_AED4_963E_E407) ^ c.wrapping_mul(0x9FB2_1C65_1E98_DF25);
    splitmix(&mut s)
}
/// stochastic rounding: E[sround(x)] == x
#[inline]
pub fn sround(x: f64, s: &mut u64) -> i64 {
    let f = x.floor();
    f as i64 + (unit(s) < x - f) as i64
}
