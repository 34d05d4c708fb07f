//! Build script: make the `kimg` binaries find and really link libtorch.
//!
//! `torch-sys` links `torch_cpu`/`torch`/`c10` but, on GNU toolchains, the default `--as-needed`
//! drops `libtorch_cuda.so` because no Rust symbol references it. Without it the CUDA backend never
//! registers itself and `tch::Cuda::is_available()` is false even on a GPU machine. So, when the
//! libtorch in use ships CUDA libraries, we force them into `DT_NEEDED` with `--no-as-needed`.
//! Every binary (the CLI, tests, benches) also gets an rpath to libtorch's `lib/`, so nothing needs
//! `LD_LIBRARY_PATH` at run time.

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    embed_presets();
    let Some(libtorch) = find_libtorch() else {
        println!(
            "cargo:warning=LIBTORCH is not set and .venv/libtorch does not exist; run `make setup`"
        );
        return;
    };
    let lib = libtorch.join("lib");
    println!("cargo:rustc-env=KIMG_LIBTORCH_DIR={}", libtorch.display());
    println!(
        "cargo:rustc-env=KIMG_LIBTORCH_VERSION={}",
        libtorch_version(&libtorch)
    );
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    let cuda_libs: Vec<&str> = ["torch_cuda", "c10_cuda"]
        .into_iter()
        .filter(|name| lib.join(format!("lib{name}.so")).exists())
        .collect();
    if !cuda_libs.is_empty() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        for name in &cuda_libs {
            println!("cargo:rustc-link-arg=-l{name}");
        }
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
        println!("cargo:rustc-cfg=kimg_libtorch_cuda");
    }
    println!("cargo:rustc-check-cfg=cfg(kimg_libtorch_cuda)");
}

/// Write `$OUT_DIR/builtin_presets.rs`: every `presets/**/*.toml` as `(name, text)`, sorted, so the
/// binary knows the presets wherever it runs.
fn embed_presets() {
    let root =
        Path::new(&env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("presets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect_toml(&root, &mut files);
    files.sort();
    let mut code =
        String::from("/// Presets compiled into the binary: `(name, text)`, sorted by name.\n");
    code.push_str("pub(crate) static BUILTIN_PRESETS: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file
            .strip_prefix(&root)
            .expect("under root")
            .with_extension("");
        let name = name.to_string_lossy().replace('\\', "/");
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            file.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = Path::new(&env::var_os("OUT_DIR").expect("cargo sets it")).join("builtin_presets.rs");
    std::fs::write(out, code).expect("write builtin_presets.rs");
}

fn collect_toml(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect_toml(&path, files);
        } else if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
}

/// `$LIBTORCH`, else the project venv's `.venv/libtorch` link made by `make setup`.
fn find_libtorch() -> Option<PathBuf> {
    if let Some(dir) = env::var_os("LIBTORCH") {
        return Some(PathBuf::from(dir));
    }
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")?;
    let venv = Path::new(&manifest_dir).join(".venv/libtorch");
    venv.canonicalize().ok()
}

/// The version a PyPI torch records in `version.py` (`2.13.0+cu130`), or a plain libtorch's
/// `build-version` file; `unknown` when neither exists.
fn libtorch_version(libtorch: &Path) -> String {
    let from_python = std::fs::read_to_string(libtorch.join("version.py"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("__version__ = "))
                .map(|value| value.trim().trim_matches('\'').to_string())
        });
    from_python
        .or_else(|| std::fs::read_to_string(libtorch.join("build-version")).ok())
        .map_or_else(|| "unknown".to_string(), |v| v.trim().to_string())
}
