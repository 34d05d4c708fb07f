//! `kimg report`'s HTML page in a real browser: headless Chromium (Debian's `chromium`, which
//! `make setup-browser` installs) loads the page of a tiny sweep, and the DOM it builds has a row
//! per run, the best run marked and thumbnails that load; a screenshot of it is not blank. Without
//! Chromium the test fails: a skip would not be a pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;

use crate::metrics::{fake_sweep, kimg_command, succeeded};

/// Where Debian's `chromium` package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium on `page` with `args`, a fresh profile and nothing fetched from outside.
fn chromium(profile: &Path, args: &[&str], page: &Path) -> Output {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "no browser at {CHROMIUM}: run `make setup-browser` (installs Debian's `chromium`)"
    );
    let out = Command::new("timeout")
        .arg("120")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fakes grid of `tile`-pixel images (8 × 4 of them), tinted by `seed`, at `dir/fakes<kimg>.png`.
fn write_fakes(dir: &Path, kimg: u64, tile: u32, seed: u8) {
    let grid = image::RgbImage::from_fn(8 * tile, 4 * tile, |x, y| {
        let [x, y] = [x, y].map(|v| u8::try_from(v % 256).unwrap());
        image::Rgb([x.wrapping_mul(3), y.wrapping_mul(5), seed.wrapping_mul(70)])
    });
    grid.save(dir.join(format!("fakes{kimg:06}.png"))).unwrap();
}

/// The base64 payloads of the page's `data:image/png` images.
fn data_uris(page: &str) -> Vec<&str> {
    page.split("src=\"data:image/png;base64,")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

#[test]
fn the_html_report_opens_in_chromium_with_the_best_run_marked_and_its_thumbnails_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, runs_dir, planned) = fake_sweep(dir.path());
    let tile = planned[0].run.spec.data.resolution.unwrap_or(32);
    // The two runs with results have fakes grids (the kimg 0 one is not shown) and timings.
    for (seed, run) in (1u8..).zip(&planned[..2]) {
        write_fakes(&run.dir, 0, tile, 0);
        write_fakes(&run.dir, 8, tile, seed);
        std::fs::write(
            run.dir.join("stats.jsonl"),
            "{\"Progress/kimg\": {\"num\": 1, \"mean\": 8.0, \"std\": 0.0}, \
             \"Timing/sec_per_kimg\": {\"num\": 1, \"mean\": 12.5, \"std\": 0.0}}\n",
        )
        .unwrap();
    }
    succeeded(
        kimg_command()
            .args(["report", "--runs-dir"])
            .arg(&runs_dir)
            .arg(&manifest),
    );
    let report: PathBuf = runs_dir.join("sweep/report-fid50k_full.html");
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(page.len() < 400_000, "{} bytes", page.len());
    // Every thumbnail is a PNG that decodes, of the size its tag says.
    let images = data_uris(&page);
    assert_eq!(images.len(), 2);
    for payload in &images {
        let png = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        let image = image::load_from_memory(&png).unwrap();
        let tag = format!("width=\"{}\" height=\"{}\"", image.width(), image.height());
        assert!(page.contains(&tag), "{tag}");
    }

    // The DOM Chromium builds: a copy of the page with a script that counts the images that
    // loaded (the report itself has no script).
    let probe = report.with_file_name("probe.html");
    let script = "<script>window.addEventListener('load', () => {\
        const images = [...document.images];\
        document.body.dataset.images = images.length;\
        document.body.dataset.loaded = \
          images.filter(i => i.complete && i.naturalWidth > 0).length;});</script>";
    std::fs::write(&probe, page.replace("</body>", &format!("{script}</body>"))).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(
        profile.path(),
        &["--dump-dom", "--virtual-time-budget=10000"],
        &probe,
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert_eq!(dom.matches("<tr class=\"run").count(), 3, "{dom}");
    assert_eq!(dom.matches("<tr class=\"run best\"").count(), 1);
    let best = format!(
        "<tr class=\"run best\" id=\"run-{}\"",
        planned[1].identity.short()
    );
    assert!(dom.contains(&best), "{dom}");
    assert!(
        dom.contains("data-images=\"2\" data-loaded=\"2\""),
        "every thumbnail loads: {}",
        &dom[dom.find("<body").unwrap()..][..200]
    );
    assert!(dom.contains("<svg") && dom.contains("id=\"config\""));
    assert!(
        dom.contains("<code>train.gamma</code>"),
        "the gammas differ"
    );

    // A screenshot of the page itself: the window's size, many colours, the best row highlighted.
    let shot = dir.path().join("report.png");
    chromium(
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
        ],
        &report,
    );
    let shot = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(shot.dimensions(), (1200, 900));
    let colours: std::collections::HashSet<[u8; 3]> = shot.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 100, "{} colours", colours.len());
    assert!(
        colours.contains(&[0xff, 0xf6, 0xd5]),
        "the best run's row is highlighted"
    );
}
