//! Terminal output: printing that treats a closed pipe (`kimg presets | head`) as success, and
//! progress bars that hide themselves when nobody is watching.

use std::io::Write;

use crate::error::Error;

/// Write `text` to stdout; a broken pipe becomes [`Error::BrokenPipe`] (exit 0, nothing printed).
pub fn print(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                Error::BrokenPipe
            } else {
                Error::io("writing to stdout", e)
            }
        })
}

/// [`print`] followed by a newline.
pub fn println(text: &str) -> Result<(), Error> {
    print(&format!("{text}\n"))
}

/// A number as Python's `%g` would show a table value: integral floats without `.0`.
pub fn fmt_number(value: &serde_json::Value) -> String {
    match value.as_f64() {
        Some(f) if value.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        _ => value.to_string(),
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal or `KIMG_NO_PROGRESS` is set.
pub fn progress_bar(unit: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let hidden = std::env::var_os(crate::env_vars::NO_PROGRESS).is_some()
        || !std::io::stderr().is_terminal();
    let bar = if hidden {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{msg}} ({{eta}} left)");
    bar.set_style(
        indicatif::ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// `5 d 14 h`, `3 h 20 min`, `12 min`.
pub fn human_duration(seconds: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "durations are positive and small"
    )]
    let minutes = (seconds / 60.0).floor().max(0.0) as u64;
    let (days, hours, mins) = (minutes / 1440, (minutes / 60) % 24, minutes % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {mins} min")
    } else {
        format!("{mins} min")
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_like_the_tables() {
        // The tables' example: 18.47 s/kimg × 25000 kimg × 1.05 ≈ 5 days and 14 hours.
        assert_eq!(human_duration(18.47 * 25000.0 * 1.05), "5 d 14 h");
        assert_eq!(human_duration(18.47 * 25000.0), "5 d 8 h");
        assert_eq!(human_duration(3.0 * 3600.0 + 20.0 * 60.0), "3 h 20 min");
        assert_eq!(human_duration(59.0), "0 min");
    }
}
