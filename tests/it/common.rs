//! Shared helpers for the golden-tensor tests: loading fixtures and comparing with tolerances.

use std::collections::HashMap;
use std::path::PathBuf;

use tch::{Kind, Tensor};

/// One reference fixture: its tensors by key and its JSON sidecar.
pub(crate) struct Fixture {
    /// Tensors by key.
    pub(crate) tensors: HashMap<String, Tensor>,
    /// The sidecar.
    pub(crate) json: serde_json::Value,
}

impl Fixture {
    /// Load `tests/fixtures/reference/<name>.{safetensors,json}`.
    pub(crate) fn load(name: &str) -> Fixture {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference");
        let tensors = Tensor::read_safetensors(dir.join(format!("{name}.safetensors")))
            .unwrap()
            .into_iter()
            .collect();
        // Python's json writes bare NaN tokens; they become null here.
        let text = std::fs::read_to_string(dir.join(format!("{name}.json")))
            .unwrap()
            .replace(": NaN", ": null");
        let json = serde_json::from_str(&text).unwrap();
        Fixture { tensors, json }
    }

    /// The tensor under `key` (panics with the key when absent).
    pub(crate) fn t(&self, key: &str) -> Tensor {
        self.tensors
            .get(key)
            .unwrap_or_else(|| panic!("fixture has no `{key}`"))
            .shallow_clone()
    }

    /// The `cases` list of the sidecar.
    pub(crate) fn cases(&self) -> Vec<serde_json::Value> {
        self.json["cases"].as_array().cloned().unwrap_or_default()
    }
}

/// `max|got − want| / max|want|`, asserting it is at most `tolerance`; returns it for reports.
pub(crate) fn assert_close(what: &str, got: &Tensor, want: &Tensor, tolerance: f64) -> f64 {
    assert_eq!(got.size(), want.size(), "{what}: shape");
    let got = got.detach().to_kind(Kind::Double);
    let want = want.detach().to_kind(Kind::Double);
    let scale = want.abs().max().double_value(&[]).max(1e-12);
    let error = (&got - &want).abs().max().double_value(&[]) / scale;
    assert!(
        error <= tolerance,
        "{what}: relative error {error:.3e} > {tolerance:.1e}"
    );
    error
}

/// Gradients of `Σ output·cotangent` with respect to `inputs`.
pub(crate) fn grads(output: &Tensor, cotangent: &Tensor, inputs: &[&Tensor]) -> Vec<Tensor> {
    let loss = (output * cotangent).sum(Kind::Float);
    Tensor::run_backward(&[loss], inputs, false, false)
}

/// A leaf copy of `t` that requires grad.
pub(crate) fn leaf(t: &Tensor) -> Tensor {
    t.detach().copy().set_requires_grad(true)
}

/// libtorch's default generator is global: tests that seed it, or draw from it while another test
/// relies on a seeded sequence, hold this lock.
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
