//! Floats as people write them.

/// Round to 12 significant digits, so derived values print and hash as people write them
/// (`0.0002 · 128² / 32` is `0.1024`, not `0.10240000000000002`).
pub fn normalize_f64(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    format!("{value:.11e}")
        .parse()
        .expect("formatted float parses")
}
