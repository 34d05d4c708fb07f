//! `scripts/gpu-kernel-check.py`, the check of the fused kernels that a GPU machine without Rust
//! runs: its layer table (`scripts/gpu-kernel-check-layers.json`) is the StyleGAN3 schedule kimg
//! derives, and it passes end to end on the CPU (CPU launchers, small shapes), so it cannot rot
//! between the rare GPU runs.

use std::path::PathBuf;

use kimg::nets::stylegan3::{LayerSpec, Stylegan3Config};
use serde_json::{Value, json};

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Images per GPU of the recommended 8-GPU configurations (batch 32 on 8 GPUs).
const BATCH_GPU: i64 = 4;

/// The recommended StyleGAN3-T and -R generators at 256² and 1024² (train.py's defaults: cbase
/// 32768, cmax 512, both doubled for -R, which also has 1×1 convolutions and radial filters).
fn configs() -> Vec<(String, Stylegan3Config)> {
    let mut out = Vec::new();
    for res in [256, 1024] {
        let t = Stylegan3Config::new(512, 0, 512, res, 3);
        let r = Stylegan3Config {
            channel_base: 2 * t.channel_base,
            channel_max: 2 * t.channel_max,
            conv_kernel: 1,
            use_radial_filters: true,
            ..t.clone()
        };
        out.push((format!("stylegan3-t-{res}"), t));
        out.push((format!("stylegan3-r-{res}"), r));
    }
    out
}

/// One layer's filtered_lrelu as the script reads it: its input is the convolution's output.
fn layer_json(l: &LayerSpec) -> Value {
    let p = l.padding;
    json!({
        "name": l.name,
        "channels": l.out_channels,
        "in_size": l.in_size + l.conv_kernel - 1,
        "out_size": l.out_size,
        "up": l.up,
        "down": l.down,
        "up_taps": l.up_taps,
        "down_taps": l.down_taps,
        "radial": l.down_radial,
        "padding": [p.x0, p.x1, p.y0, p.y1],
        "torgb": l.is_torgb,
        "fp16": l.use_fp16,
    })
}

/// The table the script should hold, one line per layer.
fn expected_table() -> String {
    let mut text = String::from(
        "{\"comment\": \"the filtered_lrelu of every StyleGAN3 layer, from kimg's schedule \
         (tests/it/gpu_kernel_check.rs prints this file when it differs)\",\n \"configs\": [\n",
    );
    let configs = configs();
    for (i, (name, config)) in configs.iter().enumerate() {
        let head = json!({
            "name": name,
            "batch_gpu": BATCH_GPU,
            "conv_clamp": config.conv_clamp,
        });
        let head = head.to_string();
        text.push_str(&format!(
            "  {},\n   \"layers\": [\n",
            &head[..head.len() - 1]
        ));
        let (_, layers) = config.schedule();
        let lines: Vec<String> = layers
            .iter()
            .map(|l| format!("    {}", layer_json(l)))
            .collect();
        text.push_str(&lines.join(",\n"));
        let comma = if i + 1 < configs.len() { "," } else { "" };
        text.push_str(&format!("\n  ]}}{comma}\n"));
    }
    text.push_str("]}\n");
    text
}

#[test]
fn the_layer_table_is_the_schedule() {
    let path = root().join("scripts/gpu-kernel-check-layers.json");
    let expected = expected_table();
    let want: Value = serde_json::from_str(&expected).unwrap();
    let have: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        have == want,
        "{} differs from the schedule; its contents should be:\n{expected}",
        path.display()
    );
}

#[test]
fn the_kernel_check_passes_on_the_cpu() {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup`",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kernels.json");
    let run = std::process::Command::new(&python)
        .arg(root().join("scripts/gpu-kernel-check.py"))
        .args(["--device", "cpu", "--quick", "--out"])
        .arg(&out)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "the kernel check failed:\n{log}");
    let figures: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let checks = figures["checks"].as_array().unwrap();
    let checked: std::collections::BTreeSet<(&str, &str)> = checks
        .iter()
        .filter_map(|c| Some((c["op"].as_str()?, c["impl"].as_str()?)))
        .collect();
    for (op, implementation) in [
        ("bias_act", "fused"),
        ("upfirdn2d", "fused"),
        ("filtered_lrelu", "fused"),
        ("filtered_lrelu", "fused_kernel"),
    ] {
        assert!(
            checked.contains(&(op, implementation)),
            "no check of {op} ({implementation}) in {log}"
        );
    }
    assert!(checks.iter().all(|c| c["passed"] == true), "{log}");
    let timings = figures["timings"].as_array().unwrap();
    assert!(!timings.is_empty(), "no timings in {log}");
    for t in timings {
        for path in ["composed", "fused", "fused_kernel"] {
            let fwd = t[path]["fwd_ms"].as_f64().unwrap_or(0.0);
            assert!(fwd > 0.0, "no {path} forward time in {t}");
        }
    }
}
