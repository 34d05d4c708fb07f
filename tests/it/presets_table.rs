//! Presets against the published tables (a copy lives in `tests/fixtures/seed/configs.md`), so a
//! preset cannot drift from its row; and StyleGAN2-ADA's `auto` formulas against their table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kimg::manifest::catalog::Catalog;
use kimg::manifest::preset_summary::summarize;
use kimg::manifest::{ExperimentSpec, Layers, Override};
use serde_json::Value;

/// One table row: where it is, its published figures and its options.
#[derive(Debug)]
struct Row {
    section: String,
    table: String,
    index: u32,
    cells: Vec<String>,
    figures: [f64; 3],
    options: BTreeMap<String, String>,
}

fn strip_tags(cell: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in cell.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

fn rows() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed/configs.md");
    let text = std::fs::read_to_string(path).unwrap();
    let (mut section, mut table, mut index) = (String::new(), String::new(), 0);
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
        } else if let Some(h) = line.strip_prefix("#### ") {
            table = h.trim().to_string();
            index = 0;
        } else if line.starts_with("| <sub>") && table != "Example" {
            let cells: Vec<String> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(strip_tags)
                .collect();
            let options_cell = cells.last().unwrap();
            if !options_cell.starts_with('`') {
                continue;
            }
            index += 1;
            let n = cells.len();
            let figures = [0, 1, 2].map(|i| cells[n - 4 + i].parse::<f64>().unwrap());
            let options = options_cell
                .trim_matches('`')
                .split_whitespace()
                .map(|token| {
                    let (k, v) = token.trim_start_matches("--").split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            rows.push(Row {
                section: section.clone(),
                table: table.clone(),
                index,
                cells,
                figures,
                options,
            });
        }
    }
    rows
}

fn same_value(table: &str, preset: &Value) -> bool {
    match preset {
        Value::Bool(b) => (table == "1") == *b,
        Value::Number(n) => table.parse::<f64>().ok() == n.as_f64(),
        Value::String(s) => s == table,
        _ => false,
    }
}

#[test]
fn every_row_is_a_preset_with_its_exact_options_and_figures() {
    let rows = rows();
    assert_eq!(rows.len(), 66);
    let catalog = Catalog::default();
    let summaries: Vec<_> = catalog
        .names()
        .iter()
        .map(|n| summarize(n, &catalog).unwrap())
        .collect();
    assert_eq!(summaries.len(), 66);
    for row in &rows {
        let matching: Vec<_> = summaries
            .iter()
            .filter(|s| {
                let source = s.source.as_ref().unwrap();
                source.section.as_deref() == Some(row.section.as_str())
                    && source.table.as_deref() == Some(row.table.as_str())
                    && source.row == Some(row.index)
            })
            .collect();
        assert_eq!(matching.len(), 1, "row {row:?}");
        let preset = matching[0];
        let keys: Vec<&String> = preset.options.keys().collect();
        let expected_keys: Vec<&String> = row.options.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, expected_keys, "{}: option names", preset.name);
        for (key, value) in &row.options {
            assert!(
                same_value(value, &preset.options[key]),
                "{}: --{key}={value} vs {}",
                preset.name,
                preset.options[key]
            );
        }
        let e = preset.expected.clone().unwrap();
        assert_eq!(
            [e.s_per_kimg_v100, e.s_per_kimg_a100, e.gpu_mem_gb].map(Option::unwrap),
            row.figures,
            "{}",
            preset.name
        );
    }
}

fn resolve_with(set: &[String]) -> ExperimentSpec {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("exp.toml");
    std::fs::write(&path, "").unwrap();
    let overrides: Vec<Override> = set.iter().map(|s| s.parse().unwrap()).collect();
    let layers = Layers::from_manifest(&path, &overrides).unwrap();
    ExperimentSpec::resolve(&layers, None, "x").unwrap()
}

fn resolve_preset(name: &str) -> ExperimentSpec {
    let file = kimg::manifest::catalog::builtin(name).unwrap();
    let layers = Layers::from_file(file, &Catalog::default(), &[]).unwrap();
    ExperimentSpec::resolve(&layers, None, "x").unwrap()
}

#[test]
fn cfg_auto_reproduces_every_default_configuration_row() {
    let rows: Vec<Row> = rows()
        .into_iter()
        .filter(|r| r.table == "Default configuration")
        .collect();
    assert_eq!(rows.len(), 15);
    for row in rows {
        let resolution: u32 = row.cells[0].trim_end_matches("&sup2;").parse().unwrap();
        let gpus: u32 = row.cells[1].parse().unwrap();
        let auto = resolve_with(&[
            "train.cfg=auto".into(),
            format!("train.gpus={gpus}"),
            format!("data.resolution={resolution}"),
        ]);
        let preset = resolve_preset(&format!("stylegan2-ada/auto-{resolution}-gpus{gpus}"));
        let (a, p) = (&auto.train, &preset.train);
        let what = format!("auto at {resolution}, {gpus} GPUs");
        assert_eq!(
            (a.batch, a.batch_gpu, a.map_depth, a.cbase, a.mbstd_group),
            (p.batch, p.batch_gpu, p.map_depth, p.cbase, p.mbstd_group),
            "{what}"
        );
        assert_eq!(
            (a.gamma, a.glr, a.dlr, a.kimg),
            (p.gamma, p.glr, p.dlr, p.kimg),
            "{what}"
        );
        assert_eq!(
            (a.derived.ema_kimg, a.derived.ema_rampup),
            (p.derived.ema_kimg, p.derived.ema_rampup),
            "{what}"
        );
        assert_eq!(a.derived.arch, p.derived.arch);
    }
}

/// A one-image dataset zip at `resolution` (what `--dry-run` needs to read the resolution).
fn tiny_dataset(dir: &Path, resolution: u32) -> PathBuf {
    let path = dir.join(format!("data{resolution}.zip"));
    let mut png = Vec::new();
    image::GrayImage::new(resolution, resolution)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.start_file(
        "00000/img00000000.png",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::Write::write_all(&mut zip, &png).unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn every_options_cell_is_a_valid_train_command_that_resolves_like_its_preset() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::default();
    for row in rows() {
        let summary = catalog
            .names()
            .into_iter()
            .map(|n| summarize(&n, &catalog).unwrap())
            .find(|s| {
                let source = s.source.as_ref().unwrap();
                source.table.as_deref() == Some(row.table.as_str())
                    && source.section.as_deref() == Some(row.section.as_str())
                    && source.row == Some(row.index)
            })
            .unwrap();
        let data = tiny_dataset(dir.path(), summary.resolution.unwrap());
        let options: Vec<String> = row
            .options
            .iter()
            .map(|(k, v)| format!("--{k}={v}"))
            .collect();
        let out = assert_cmd::Command::cargo_bin("kimg")
            .unwrap()
            .args([
                "train",
                "--outdir",
                dir.path().to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--dry-run",
            ])
            .args(&options)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{options:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let json = stdout
            .split_once("Training options:\n")
            .unwrap()
            .1
            .rsplit_once("\n\nDry run")
            .unwrap()
            .0;
        let from_cli: Value = serde_json::from_str(json).unwrap();
        let from_preset = serde_json::to_value(resolve_preset(&summary.name)).unwrap();
        assert_eq!(from_cli["train"], from_preset["train"], "{}", summary.name);
        assert_eq!(
            from_cli["data"]["mirror"], from_preset["data"]["mirror"],
            "{}",
            summary.name
        );
        assert_eq!(
            from_cli["data"]["resolution"], from_preset["data"]["resolution"],
            "{}",
            summary.name
        );
    }
}
