//! The sweep report as one self-contained HTML page, `runs/<experiment>/report-<metric>.html`: the
//! runs table (the best run marked by [`super::report::best_run`]), the metric against kimg as
//! inline SVG (the chart [`super::plot`] draws), each run's newest fakes grid as a thumbnail (a
//! downscaled crop, embedded as a PNG data URI), links to the run directories, and the keys of the
//! resolved configuration that differ between runs. No script, font, style sheet or image is
//! fetched: the page opens from a cluster's file system as it is.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use image::imageops::FilterType;

use super::plot::{CURVE_COLOURS, Panel, PlotError, svg_text};
use super::report::{ReportMetric, ReportRow, best_run, format_point};
use crate::manifest::diff::KeyDiff;
use crate::run_files::fakes_grid_kimg;

/// PNG bytes all thumbnails of a page may take together (before base64), so that the page stays
/// a few hundred KB however many runs and however large their grids.
pub const THUMBNAIL_BUDGET: usize = 192 * 1024;

/// Thumbnail widths tried, largest first, until a run's share of [`THUMBNAIL_BUDGET`] holds it.
const THUMBNAIL_WIDTHS: [u32; 7] = [256, 192, 128, 96, 64, 48, 32];

/// Grid tiles a thumbnail shows at most: columns and rows from the grid's top left.
const THUMBNAIL_TILES: (u32, u32) = (8, 4);

/// What the page shows.
#[derive(Debug, Clone, Copy)]
pub struct HtmlReport<'a> {
    /// The experiment (the page's title).
    pub experiment: &'a str,
    /// The metric and value shown.
    pub metric: &'a ReportMetric,
    /// The runs, in manifest order.
    pub runs: &'a [ReportRow],
    /// The metric against kimg, one curve per run (as `report-<metric>.svg`).
    pub chart: &'a Panel,
    /// The configuration keys that differ between the runs, a value per run.
    pub config_diff: &'a [KeyDiff],
    /// Width and height of one image of the fakes grids (the training resolution), so that the
    /// thumbnails crop whole images; `None`: the whole grid is downscaled.
    pub tile: Option<u32>,
}

/// A run's thumbnail cell.
#[derive(Debug, Clone, PartialEq)]
enum Thumbnail {
    /// No fakes grid yet.
    Missing,
    /// The grid could not be read (the reason), or no size fits the run's share of the budget.
    Skipped(String),
    /// The grid at `kimg` (its path), as a base64 PNG of `width × height`.
    Image {
        /// kimg of the grid.
        kimg: u64,
        /// The grid's file.
        path: PathBuf,
        /// Base64 of the thumbnail's PNG.
        base64: String,
        /// Thumbnail size.
        size: (u32, u32),
    },
}

/// The newest fakes grid in `run_dir`: its kimg and path.
pub fn latest_fakes(run_dir: &Path) -> Option<(u64, PathBuf)> {
    std::fs::read_dir(run_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let kimg = fakes_grid_kimg(&entry.file_name().to_string_lossy())?;
            Some((kimg, entry.path()))
        })
        .max()
}

/// The top-left [`THUMBNAIL_TILES`] of `grid` (whole `tile`-pixel images; all of it when the tile
/// is unknown or does not fit), decoded once.
fn crop(grid: &Path, tile: Option<u32>) -> Result<image::DynamicImage, image::ImageError> {
    let image = image::open(grid)?;
    let (width, height) = (image.width(), image.height());
    Ok(match tile.filter(|&t| t > 0 && t <= width && t <= height) {
        Some(t) => image.crop_imm(
            0,
            0,
            (width / t).min(THUMBNAIL_TILES.0) * t,
            (height / t).min(THUMBNAIL_TILES.1) * t,
        ),
        None => image,
    })
}

/// `image` at most `width` pixels wide (never enlarged), as PNG bytes, with its size.
fn encode_png(
    image: &image::DynamicImage,
    width: u32,
) -> Result<(Vec<u8>, (u32, u32)), image::ImageError> {
    let scaled = if image.width() > width {
        let height =
            (u64::from(image.height()) * u64::from(width) / u64::from(image.width())).max(1);
        image.resize_exact(
            width,
            u32::try_from(height).unwrap_or(1),
            FilterType::Triangle,
        )
    } else {
        image.clone()
    };
    let mut bytes = Vec::new();
    scaled.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    Ok((bytes, (scaled.width(), scaled.height())))
}

/// The thumbnail of the run in `run_dir`: the largest of [`THUMBNAIL_WIDTHS`] within `share` bytes.
fn thumbnail(run_dir: &Path, tile: Option<u32>, share: usize) -> Thumbnail {
    let Some((kimg, path)) = latest_fakes(run_dir) else {
        return Thumbnail::Missing;
    };
    let cropped = match crop(&path, tile) {
        Ok(image) => image,
        Err(error) => return Thumbnail::Skipped(format!("unreadable: {error}")),
    };
    for width in THUMBNAIL_WIDTHS {
        match encode_png(&cropped, width) {
            Ok((bytes, size)) if bytes.len() <= share => {
                return Thumbnail::Image {
                    kimg,
                    path,
                    base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                    size,
                };
            }
            Ok(_) => {}
            Err(error) => return Thumbnail::Skipped(format!("cannot encode: {error}")),
        }
    }
    Thumbnail::Skipped("too many runs for a thumbnail".into())
}

/// `text` with `& < > " '` escaped, for element content and quoted attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A link from a page in `page_dir` to `target`: relative when `target` lies below `page_dir`
/// (the run directories below the experiment's), else a `file://` URL of its absolute path;
/// percent-encoded, so any file name makes a valid URL.
pub fn href(page_dir: &Path, target: &Path) -> String {
    let (relative, path) = match target.strip_prefix(page_dir) {
        Ok(relative) => (true, relative.to_path_buf()),
        Err(_) => (
            false,
            std::path::absolute(target).unwrap_or_else(|_| target.to_path_buf()),
        ),
    };
    let segments: Vec<String> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name),
            Component::ParentDir => Some("..".as_ref()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .map(|name| {
            let mut segment = String::new();
            for &byte in name.as_encoded_bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    segment.push(char::from(byte));
                } else {
                    let _ = write!(segment, "%{byte:02X}");
                }
            }
            segment
        })
        .collect();
    match (relative, segments.is_empty()) {
        (true, true) => ".".to_string(),
        (true, false) => segments.join("/"),
        (false, _) => format!("file:///{}", segments.join("/")),
    }
}

/// The page's style: no external font, sheet or script.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.6em;margin:0 0 0.3em}h2{font-size:1.2em;margin:1.2em 0 0.4em}\
table{border-collapse:collapse;margin:0.5em 0}\
th,td{border-bottom:1px solid #ddd;padding:0.3em 0.6em;text-align:left;vertical-align:middle}\
td{white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}\
tr.best{background:#fff6d5}tr.best td.mark{font-weight:bold;color:#a66f00}\
.swatch{display:inline-block;width:0.9em;height:0.9em;margin-right:0.4em;vertical-align:-0.1em}\
img.fakes{height:64px;width:auto;vertical-align:middle;margin-right:0.4em}\
figure{margin:0}.chart svg{width:100%;max-width:720px;height:auto}\
.chart text{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace}\
code{font-size:0.95em}.note{color:#555;font-size:0.9em}";

/// The whole page for `report`, to be written into `page_dir` (links are relative to it).
pub fn render(
    report: &HtmlReport<'_>,
    page_dir: &Path,
) -> Result<String, super::plot::SvgDrawError> {
    let name = report.metric.name();
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n\
         <p class=\"note\">{} run(s); {} ({} is better). Written by <code>kimg report</code> {} \
         on {}.</p>\n",
        escape(report.experiment),
        escape(name),
        escape(report.experiment),
        report.runs.len(),
        escape(name),
        if report.metric.higher_is_better() {
            "higher"
        } else {
            "lower"
        },
        env!("CARGO_PKG_VERSION"),
        chrono::Local::now().format("%Y-%m-%d %H:%M"),
    );
    runs_table(&mut page, report, page_dir);
    let _ = write!(
        page,
        "<h2>{} vs kimg</h2>\n<figure class=\"chart\">\n{}\n</figure>\n",
        escape(name),
        svg_text(report.chart)?
    );
    config_table(&mut page, report);
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

/// The runs table and the best-run rule under it.
fn runs_table(page: &mut String, report: &HtmlReport<'_>, page_dir: &Path) {
    let name = escape(report.metric.name());
    let best = best_run(report.metric, report.runs);
    let with_grid = report
        .runs
        .iter()
        .filter(|r| latest_fakes(&r.dir).is_some())
        .count();
    let share = THUMBNAIL_BUDGET / with_grid.max(1);
    let _ = write!(
        page,
        "<h2>Runs</h2>\n<table id=\"runs\">\n<thead><tr><th></th><th>run</th><th>varies</th>\
         <th>state</th><th>kimg</th><th>s/kimg</th><th>best {name}</th><th>latest {name}</th>\
         <th>newest fakes</th></tr></thead>\n<tbody>\n"
    );
    let mut curve = 0;
    for (i, run) in report.runs.iter().enumerate() {
        // Curves without points are not drawn, and the drawn ones take the colours in order.
        let colour = (!run.history.is_empty()).then(|| {
            curve += 1;
            CURVE_COLOURS[(curve - 1) % CURVE_COLOURS.len()]
        });
        let cells = RowCells {
            best: best == Some(i),
            colour,
            thumbnail: thumbnail(&run.dir, report.tile, share),
        };
        run_row(page, report.metric, page_dir, run, &cells);
    }
    let direction = if report.metric.higher_is_better() {
        "highest"
    } else {
        "lowest"
    };
    let _ = write!(
        page,
        "</tbody>\n</table>\n<p class=\"note\">Best run (★): the {direction} {name} a run reached \
         so far; equal values go to the run that reached it in fewer kimg, then to the better \
         latest value, then to the smaller hash. Runs without a value are never marked.</p>\n"
    );
}

/// What a run's row shows besides the run's own values.
struct RowCells {
    /// Whether it is the best run.
    best: bool,
    /// Its curve's colour in the chart (`None`: no curve).
    colour: Option<(u8, u8, u8)>,
    /// Its newest fakes.
    thumbnail: Thumbnail,
}

/// One `<tr>` of the runs table.
fn run_row(
    page: &mut String,
    metric: &ReportMetric,
    page_dir: &Path,
    run: &ReportRow,
    cells: &RowCells,
) {
    let best = cells.best;
    let swatch = cells.colour.map_or_else(String::new, |(r, g, b)| {
        format!("<span class=\"swatch\" style=\"background:rgb({r},{g},{b})\"></span>")
    });
    let fakes = match &cells.thumbnail {
        Thumbnail::Missing => "-".to_string(),
        Thumbnail::Skipped(why) => format!("<span class=\"note\">{}</span>", escape(why)),
        Thumbnail::Image {
            kimg,
            path,
            base64,
            size: (w, h),
        } => format!(
            "<a href=\"{}\"><img class=\"fakes\" src=\"data:image/png;base64,{base64}\" \
             width=\"{w}\" height=\"{h}\" alt=\"fakes at {kimg} kimg\"></a>\
             <span class=\"note\">{kimg} kimg</span>",
            escape(&href(page_dir, path))
        ),
    };
    let _ = writeln!(
        page,
        "<tr class=\"{}\" id=\"run-{hash}\" data-hash=\"{hash}\"><td class=\"mark\">{}</td>\
         <td><a href=\"{}/\"><code>{hash}</code></a></td><td>{swatch}{}</td><td>{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td>{fakes}</td></tr>",
        if best { "run best" } else { "run" },
        if best { "★ best" } else { "" },
        escape(&href(page_dir, &run.dir)),
        escape(&run.label),
        escape(&run.state),
        run.kimg.map_or_else(|| "-".to_string(), |k| k.to_string()),
        run.sec_per_kimg
            .map_or_else(|| "-".to_string(), |s| format!("{s:.2}")),
        escape(&format_point(metric.best(&run.history))),
        escape(&format_point(run.history.last().copied())),
        hash = escape(&run.hash),
    );
}

/// The configuration keys that differ between the runs, one column per run.
fn config_table(page: &mut String, report: &HtmlReport<'_>) {
    page.push_str("<h2>Configuration: what differs between runs</h2>\n");
    if report.config_diff.is_empty() {
        page.push_str(
            "<p class=\"note\" id=\"config\">The runs' resolved configurations are the same.</p>\n",
        );
        return;
    }
    page.push_str("<table id=\"config\">\n<thead><tr><th>key</th>");
    for run in report.runs {
        let _ = write!(
            page,
            "<th><code>{}</code><br>{}</th>",
            escape(&run.hash),
            escape(&run.label)
        );
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for diff in report.config_diff {
        let _ = write!(page, "<tr><td><code>{}</code></td>", escape(&diff.key));
        for value in &diff.values {
            let _ = write!(
                page,
                "<td><code>{}</code></td>",
                value
                    .as_deref()
                    .map_or_else(|| "(absent)".to_string(), escape)
            );
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n");
}

/// Write the page for `report` to `path` (atomically).
pub fn write_html(path: &Path, report: &HtmlReport<'_>) -> Result<(), PlotError> {
    let page_dir = path.parent().unwrap_or(Path::new(""));
    let page = render(report, page_dir).map_err(|source| PlotError::Svg {
        path: path.to_path_buf(),
        source,
    })?;
    crate::fsutil::atomic_write(path, page.as_bytes()).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{
        HtmlReport, THUMBNAIL_BUDGET, Thumbnail, escape, href, latest_fakes, render, thumbnail,
    };
    use crate::manifest::diff::KeyDiff;
    use crate::metrics::plot::{Curve, Panel};
    use crate::metrics::report::{ReportMetric, ReportRow};

    /// A `cols × rows` grid of `tile`-pixel noise images, as a fakes grid at `kimg` in `dir`.
    fn write_grid(dir: &Path, kimg: u64, tile: u32, (cols, rows): (u32, u32)) -> PathBuf {
        let mut state = 0x2545_f491_u32;
        let grid = image::RgbImage::from_fn(cols * tile, rows * tile, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [r, g, b, _] = state.to_le_bytes();
            image::Rgb([r, g, b])
        });
        let path = dir.join(crate::run_files::fakes_grid(kimg));
        grid.save(&path).unwrap();
        path
    }

    #[test]
    fn text_and_links_are_escaped() {
        assert_eq!(
            escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
        let page = Path::new("runs/sweep");
        assert_eq!(
            href(page, Path::new("runs/sweep/ab12-gamma0.5")),
            "ab12-gamma0.5"
        );
        assert_eq!(
            href(page, Path::new("runs/sweep/a b/<c>.png")),
            "a%20b/%3Cc%3E.png"
        );
        assert_eq!(href(page, page), ".");
        assert_eq!(href(page, Path::new("/data/x y")), "file:///data/x%20y");
    }

    #[test]
    fn the_newest_fakes_grid_is_cropped_to_whole_images_and_fits_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(thumbnail(dir.path(), Some(8), 1000), Thumbnail::Missing);
        std::fs::write(dir.path().join("fakes_init.png"), b"").unwrap();
        write_grid(dir.path(), 4, 16, (32, 32));
        let newest = write_grid(dir.path(), 12, 16, (32, 32));
        assert_eq!(latest_fakes(dir.path()), Some((12, newest.clone())));
        // 8 × 4 images of 16 pixels: 128 × 64, kept at full size within a generous share.
        match thumbnail(dir.path(), Some(16), THUMBNAIL_BUDGET) {
            Thumbnail::Image {
                kimg, path, size, ..
            } => {
                assert_eq!((kimg, path, size), (12, newest.clone(), (128, 64)));
            }
            other => panic!("{other:?}"),
        }
        // Noise does not compress: a small share takes a smaller width, a tiny one none.
        match thumbnail(dir.path(), Some(16), 8 * 1024) {
            Thumbnail::Image { size, base64, .. } => {
                assert!(size.0 < 128 && size.0 * 2 == size.1 * 4, "{size:?}");
                assert!(base64.len() <= 8 * 1024 * 4 / 3 + 4);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            thumbnail(dir.path(), Some(16), 100),
            Thumbnail::Skipped(_)
        ));
        // Unknown tile: the whole grid, downscaled to the widest width.
        match thumbnail(dir.path(), None, 1 << 20) {
            Thumbnail::Image { size, .. } => assert_eq!(size, (256, 256)),
            other => panic!("{other:?}"),
        }
        std::fs::write(&newest, b"not a png").unwrap();
        assert!(matches!(
            thumbnail(dir.path(), Some(16), THUMBNAIL_BUDGET),
            Thumbnail::Skipped(why) if why.starts_with("unreadable")
        ));
    }

    #[test]
    fn the_page_marks_the_best_run_and_escapes_what_it_shows() {
        let dir = tempfile::tempdir().unwrap();
        let metric = ReportMetric::parse("fid50k_full");
        let row = |hash: &str, label: &str, history: Vec<(f64, f64)>| ReportRow {
            hash: hash.into(),
            label: label.into(),
            state: "done".into(),
            kimg: Some(8),
            history,
            dir: dir.path().join(format!("{hash}-{label}")),
            sec_per_kimg: Some(1.5),
        };
        let runs = [
            row("aaa", "gamma<1>", vec![(0.0, 300.0), (4.0, 40.0)]),
            row("bbb", "gamma2", vec![(0.0, 300.0), (4.0, 30.0)]),
        ];
        std::fs::create_dir_all(&runs[1].dir).unwrap();
        write_grid(&runs[1].dir, 8, 4, (8, 8));
        let chart = Panel {
            title: "sweep & co".into(),
            y_name: "fid50k_full".into(),
            curves: runs
                .iter()
                .map(|r| Curve {
                    label: r.label.clone(),
                    points: r.history.clone(),
                })
                .collect(),
        };
        let diff = [KeyDiff {
            key: "train.gamma".into(),
            values: vec![Some("1.0".into()), None],
        }];
        let report = HtmlReport {
            experiment: "sweep & co",
            metric: &metric,
            runs: &runs,
            chart: &chart,
            config_diff: &diff,
            tile: Some(4),
        };
        let page = render(&report, dir.path()).unwrap();
        assert!(page.contains("<title>sweep &amp; co — fid50k_full</title>"));
        assert!(!page.contains("gamma<1>") && page.contains("gamma&lt;1&gt;"));
        assert_eq!(page.matches("<tr class=\"run").count(), 2);
        assert_eq!(page.matches("<tr class=\"run best\"").count(), 1);
        assert!(page.contains("<tr class=\"run best\" id=\"run-bbb\""));
        assert!(page.contains("<a href=\"bbb-gamma2/\">"));
        assert_eq!(page.matches("src=\"data:image/png;base64,").count(), 1);
        assert!(page.contains("<svg") && page.contains("</svg>"));
        assert!(page.contains("<td><code>1.0</code></td><td><code>(absent)</code></td>"));
        // Nothing is fetched (the SVG's `xmlns` is a name, not a request).
        for external in [
            "src=\"http",
            "href=\"http",
            "<script",
            "<link",
            "@import",
            "url(",
        ] {
            assert!(!page.contains(external), "{external}");
        }
    }
}
