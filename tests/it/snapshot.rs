//! Official network pickles read without Python equal the fixture's tensors and kwargs.

use std::path::Path;

use kimg::snapshot::official::read_network_pickle;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(name)
}

#[test]
fn the_tiny_official_pickle_reads_into_its_tensors_and_kwargs() {
    let pickle = read_network_pickle(&fixture("snapshot_tiny.pkl")).unwrap();
    let reference = tch::Tensor::read_safetensors(fixture("snapshot_tiny.safetensors")).unwrap();
    let keys: Vec<&str> = pickle.modules.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["G", "D", "G_ema", "augment_pipe"]);
    let mut compared = 0;
    for module in &pickle.modules {
        for (name, tensor) in &module.tensors {
            let full = format!("{}.{name}", module.key);
            let (_, expected) = reference
                .iter()
                .find(|(k, _)| *k == full)
                .unwrap_or_else(|| panic!("{full} not in the fixture"));
            assert_eq!(tensor.size(), expected.size(), "{full}");
            assert!(tensor.equal(expected), "{full} differs");
            compared += 1;
        }
    }
    assert_eq!(
        compared,
        reference.len(),
        "every fixture tensor is in the pickle"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("snapshot_tiny.json")).unwrap())
            .unwrap();
    let g = pickle.module("G").unwrap();
    assert_eq!(g.class_name, "Generator");
    assert_eq!(g.init_kwargs["z_dim"], 8);
    assert_eq!(g.init_kwargs["mapping_kwargs"]["num_layers"], 2);
    assert_eq!(pickle.training_set_kwargs, json["training_set_kwargs"]);
    for module in &pickle.modules {
        assert_eq!(
            module.init_kwargs, json["init_kwargs"][&module.key],
            "{} kwargs",
            module.key
        );
    }
}

#[test]
fn a_file_that_is_not_a_pickle_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pkl");
    std::fs::write(&path, b"not a pickle").unwrap();
    let error = read_network_pickle(&path).unwrap_err().to_string();
    assert!(error.contains("x.pkl"), "{error}");
}
