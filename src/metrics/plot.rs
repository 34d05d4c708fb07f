//! Curves against kimg: a sweep's metric with one curve per run (PNG and SVG), and a run's
//! training figure of several panels (PNG); drawn with plotters, text in the bundled DejaVu Sans
//! Mono, so no system font library is needed.

use std::path::{Path, PathBuf};

use image::ImageEncoder as _;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Plot size in pixels (one panel).
pub const SIZE: (u32, u32) = (960, 600);

/// One curve: its legend label and its `(kimg, value)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// `(kimg, value)` points, by kimg.
    pub points: Vec<(f64, f64)>,
}

/// One chart: a title, the y axis's name and its curves (those without points are left out, and
/// the others take [`CURVE_COLOURS`] in order).
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Chart title.
    pub title: String,
    /// y axis name.
    pub y_name: String,
    /// The curves.
    pub curves: Vec<Curve>,
}

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

/// What plotters reports when drawing on a bitmap fails.
pub type BitmapDrawError =
    DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// What plotters reports when drawing an SVG fails.
pub type SvgDrawError = DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>;

/// Why a plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing the PNG's pixels failed.
    #[error("plotting `{path}`: {source}")]
    Bitmap {
        /// The output file.
        path: PathBuf,
        /// What plotters says.
        source: BitmapDrawError,
    },
    /// Drawing the SVG failed.
    #[error("plotting `{path}`: {source}")]
    Svg {
        /// The output file.
        path: PathBuf,
        /// What plotters says.
        source: SvgDrawError,
    },
    /// Encoding the PNG failed.
    #[error("plotting `{path}`: {source}")]
    Encode {
        /// The output file.
        path: PathBuf,
        /// What the encoder says.
        source: image::ImageError,
    },
    /// Writing the file failed.
    #[error("plotting `{path}`: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Draw `panel` onto `area`.
fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let curves: Vec<&Curve> = panel
        .curves
        .iter()
        .filter(|c| !c.points.is_empty())
        .collect();
    let points = curves.iter().flat_map(|c| c.points.iter().copied());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    // A flat curve (a constant augmentation probability) gets a readable range around its value.
    let span = y_max - y_min;
    let pad = if span > 1e-9 * y_max.abs().max(1.0) {
        span * 0.05
    } else {
        y_max.abs().max(1.0) * 0.1
    };
    area.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max * 1.02, (y_min - pad)..(y_max + pad))?;
    chart
        .configure_mesh()
        .x_desc("kimg")
        .y_desc(&panel.y_name)
        .label_style((FONT, 14))
        .draw()?;
    for (i, curve) in curves.iter().enumerate() {
        let (r, g, b) = CURVE_COLOURS[i % CURVE_COLOURS.len()];
        let colour = RGBColor(r, g, b);
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(curve.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
        chart.draw_series(
            curve
                .points
                .iter()
                .map(|&p| Circle::new(p, 4, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    area.present()
}

/// Draw with `paint` on a `size` bitmap and write it to `png` atomically.
fn write_png(
    png: &Path,
    size: (u32, u32),
    paint: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), BitmapDrawError>,
) -> Result<(), PlotError> {
    let (width, height) = size;
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        paint(&area).map_err(|source| PlotError::Bitmap {
            path: png.to_path_buf(),
            source,
        })?;
    }
    let mut encoded = Vec::new();
    image::codecs::png::PngEncoder::new(&mut encoded)
        .write_image(&buffer, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|source| PlotError::Encode {
            path: png.to_path_buf(),
            source,
        })?;
    crate::fsutil::atomic_write(png, &encoded).map_err(|source| PlotError::Write {
        path: png.to_path_buf(),
        source,
    })
}

/// `panel` as an SVG document ([`SIZE`]), as `write_plots` writes it and the HTML report inlines it.
pub fn svg_text(panel: &Panel) -> Result<String, SvgDrawError> {
    register_font();
    let mut text = String::new();
    {
        let area = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw(&area, panel)?;
    }
    Ok(text)
}

/// Write `panel` as `<stem>.png` and `<stem>.svg` ([`SIZE`]); returns both paths.
pub fn write_plots(stem: &Path, panel: &Panel) -> Result<[PathBuf; 2], PlotError> {
    register_font();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    write_png(&png, SIZE, |area| draw(area, panel))?;
    let text = svg_text(panel).map_err(|source| PlotError::Svg {
        path: svg.clone(),
        source,
    })?;
    crate::fsutil::atomic_write(&svg, text.as_bytes()).map_err(|source| PlotError::Write {
        path: svg.clone(),
        source,
    })?;
    Ok([png, svg])
}

/// Write `panels` as one PNG figure at `png`, two panels per row, each [`SIZE`].
pub fn write_figure(png: &Path, panels: &[Panel]) -> Result<(), PlotError> {
    register_font();
    let rows = u32::try_from(panels.len().div_ceil(2)).expect("few panels");
    let size = (SIZE.0 * 2, SIZE.1 * rows.max(1));
    write_png(png, size, |area| {
        let cells = area.split_evenly((rows.max(1) as usize, 2));
        for (cell, panel) in cells.iter().zip(panels) {
            draw(cell, panel)?;
        }
        for cell in cells.iter().skip(panels.len()) {
            cell.fill(&WHITE)?;
        }
        Ok(())
    })
}
