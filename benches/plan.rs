//! `kimg plan` of a large sweep: a manifest of 100 seeds × 100 gammas (10,000 runs) over a small
//! readable dataset, planned into an empty runs folder (expansion, resolution, identities, run
//! directories and their states).
//!
//! `cargo bench --bench plan` (or `make bench`) prints a Markdown row for BENCHMARKS.md: wall and
//! process CPU seconds (CPU seconds do not count other processes' use of the cores, so they hold
//! on a shared machine). Under `cargo test` (no `--bench` argument) a 10 × 10 sweep runs once, as
//! a smoke test.

#[path = "common/cpu.rs"]
mod cpu;

use std::path::Path;
use std::time::Instant;

use kimg::data::tool::{CreateOptions, create_dataset};

/// A manifest sweeping `side` seeds × `side` gammas of the quickstart network over `dataset`.
fn manifest(dataset: &Path, side: usize) -> String {
    let seeds: Vec<String> = (0..side).map(|i| i.to_string()).collect();
    let gammas: Vec<String> = (1..=side)
        .map(|i| format!("{:.2}", 0.01 * i as f64))
        .collect();
    format!(
        "name = \"plan-bench\"\n\
         [data]\npath = {dataset:?}\nresolution = 32\n\
         [train]\ncfg = \"stylegan2\"\ngpus = 1\nbatch = 32\ngamma = 0.1\ncbase = 2048\ncmax = 32\nmap_depth = 2\n\
         kimg = 12\nmetrics = [\"fid200\"]\n\
         [sweep]\n\"train.seed\" = [{}]\n\"train.gamma\" = [{}]\n",
        seeds.join(", "),
        gammas.join(", ")
    )
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let side = if benchmarking { 100 } else { 10 };
    let dir = tempfile::tempdir().expect("temporary folder");
    let dataset = dir.path().join("fashion-mnist-32.zip");
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist/train-images-idx3-ubyte.gz");
    let options = CreateOptions {
        resolution: Some(32),
        transform: None,
        max_images: Some(256),
        skip_bad: false,
    };
    create_dataset(
        &source,
        &dataset,
        &options,
        &indicatif::ProgressBar::hidden(),
    )
    .expect("dataset from the bundled Fashion-MNIST");
    let path = dir.path().join("plan-bench.toml");
    std::fs::write(&path, manifest(&dataset, side)).expect("manifest written");
    let runs_dir = dir.path().join("runs");
    let (cpu, start) = (cpu::process_cpu_seconds(), Instant::now());
    let runs = kimg::schedule::plan(&path, &[], &runs_dir).expect("the manifest plans");
    let (wall, cpu) = (
        start.elapsed().as_secs_f64(),
        cpu::process_cpu_seconds() - cpu,
    );
    assert_eq!(runs.len(), side * side);
    println!("| kimg plan | runs | wall s | CPU s | CPU ms/run |");
    println!("|---|---|---|---|---|");
    println!(
        "| {side} seeds × {side} gammas | {} | {wall:.2} | {cpu:.2} | {:.3} |",
        runs.len(),
        cpu * 1e3 / runs.len() as f64
    );
}
