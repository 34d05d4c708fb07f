//! Numbers and durations written as the official Python tools write them, so that logs,
//! `stats.jsonl`, metric lines and run names read (and parse) like the reference's.

/// A float as Python's `repr`/`json` prints it: shortest round-trip digits, fixed notation for
/// exponents in [-4, 16), else `1e-05` style; `NaN`, `Infinity`, `-Infinity`.
pub fn py_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` has an exponent");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else {
            let point = point as usize;
            if digits.len() > point {
                format!("{}.{}", &digits[..point], &digits[point..])
            } else {
                format!("{digits}{}.0", "0".repeat(point - digits.len()))
            }
        };
        format!("{sign}{text}")
    } else {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

/// Seconds as the reference's `format_time`: `12s`, `3m 05s`, `2h 03m 04s`, `1d 02h 03m`.
pub fn format_time(seconds: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "durations are small and positive"
    )]
    let s = seconds.max(0.0).round_ties_even() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m {:02}s", s / 3600, (s / 60) % 60, s % 60),
        _ => format!(
            "{}d {:02}h {:02}m",
            s / 86400,
            (s / 3600) % 24,
            (s / 60) % 60
        ),
    }
}

/// Python's `format(x, "g")`: 6 significant digits, trailing zeros dropped, exponent form below
/// 1e-4 or from 1e6.
pub fn format_g(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let exponent = value.abs().log10().floor();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "exponents of doubles are small"
    )]
    let exponent = exponent as i32;
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if (-4..6).contains(&exponent) {
        let decimals = usize::try_from(5 - exponent).unwrap_or(0);
        trim(format!("{value:.decimals$}"))
    } else {
        let mantissa = trim(format!("{:.5}", value / 10f64.powi(exponent)));
        format!(
            "{mantissa}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        )
    }
}

/// Seconds since 1970, as Python's `time.time()` (the `timestamp` of the reference's JSONL lines
/// and TensorBoard's wall times).
pub fn unix_time() -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "microseconds since 1970 are below 2^52"
    )]
    let micros = chrono::Utc::now().timestamp_micros() as f64;
    micros / 1e6
}

#[cfg(test)]
mod tests {
    use super::{format_g, format_time, py_float};

    #[test]
    fn floats_print_like_python() {
        let cases = [
            (0.1, "0.1"),
            (10.0, "10.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123_456.789, "123456.789"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (-2.5e-7, "-2.5e-07"),
            (f64::NAN, "NaN"),
            (0.0, "0.0"),
            (1_700_000_000.123_456_7, "1700000000.1234567"),
        ];
        for (value, expected) in cases {
            assert_eq!(py_float(value), expected, "{value}");
        }
    }

    #[test]
    fn times_format_like_the_reference() {
        assert_eq!(format_time(12.5), "12s");
        assert_eq!(format_time(13.5), "14s");
        assert_eq!(format_time(185.0), "3m 05s");
        assert_eq!(format_time(7384.0), "2h 03m 04s");
        assert_eq!(format_time(93_784.0), "1d 02h 03m");
    }

    #[test]
    fn gamma_formats_like_python() {
        for (value, text) in [
            (8.2, "8.2"),
            (10.0, "10"),
            (0.5, "0.5"),
            (1e-5, "1e-05"),
            (0.0512, "0.0512"),
            (52.4288, "52.4288"),
            (1234567.0, "1.23457e+06"),
        ] {
            assert_eq!(format_g(value), text);
        }
    }
}
