//! Metric-versus-kimg plots of a sweep, one curve per run, as PNG and SVG (plotters; text drawn
//! with the bundled DejaVu Sans Mono, so no system font library is needed).

use std::path::Path;

use image::ImageEncoder as _;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::report::RunReport;

/// Plot size in pixels.
pub const SIZE: (u32, u32) = (960, 600);

/// Curve colours, in run order (Tableau 10); runs past ten reuse them.
pub const CURVE_COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

const FONT: &str = "kimg-mono";

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../../assets/fonts/DejaVuSansMono.ttf"),
        )
        .unwrap_or_else(|_| panic!("the bundled font is a valid TrueType file"));
    });
}

/// Why a plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("plotting `{path}`: {reason}")]
pub struct PlotError {
    /// The output file.
    pub path: String,
    /// What failed.
    pub reason: String,
}

/// Draw the runs' histories (those with points) onto `area`.
fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_name: &str,
    runs: &[&RunReport],
) -> Result<(), String> {
    let points = runs.iter().flat_map(|r| r.history.iter().copied());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-6);
    area.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max * 1.02, (y_min - pad)..(y_max + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("kimg")
        .y_desc(y_name)
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, run) in runs.iter().enumerate() {
        let (r, g, b) = CURVE_COLOURS[i % CURVE_COLOURS.len()];
        let colour = RGBColor(r, g, b);
        chart
            .draw_series(LineSeries::new(
                run.history.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(run.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
        chart
            .draw_series(
                run.history
                    .iter()
                    .map(|&p| Circle::new(p, 4, colour.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())?;
    area.present().map_err(|e| e.to_string())
}

/// Write `<stem>.png` and `<stem>.svg` with one curve per run that has points; returns both paths.
pub fn write_plots(
    stem: &Path,
    title: &str,
    y_name: &str,
    runs: &[RunReport],
) -> Result<[std::path::PathBuf; 2], PlotError> {
    register_font();
    let plotted: Vec<&RunReport> = runs.iter().filter(|r| !r.history.is_empty()).collect();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let failed = |path: &Path| {
        let path = path.display().to_string();
        move |reason: String| PlotError { path, reason }
    };
    let (width, height) = SIZE;
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        draw(&area, title, y_name, &plotted).map_err(failed(&png))?;
    }
    let mut encoded = Vec::new();
    image::codecs::png::PngEncoder::new(&mut encoded)
        .write_image(&buffer, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| failed(&png)(e.to_string()))?;
    crate::fsutil::atomic_write(&png, &encoded).map_err(|e| failed(&png)(e.to_string()))?;
    let mut text = String::new();
    {
        let area = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw(&area, title, y_name, &plotted).map_err(failed(&svg))?;
    }
    crate::fsutil::atomic_write(&svg, text.as_bytes()).map_err(|e| failed(&svg)(e.to_string()))?;
    Ok([png, svg])
}
