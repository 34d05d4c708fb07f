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
    compile_kernels(&libtorch);
}

/// Compile the fused ops of `kernels/` against libtorch's headers: the differentiable C interface
/// and the CPU launchers always, the CUDA launchers with the `cuda` feature (which needs `nvcc`).
fn compile_kernels(libtorch: &Path) {
    let root =
        Path::new(&env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("kernels");
    println!("cargo:rerun-if-changed={}", root.display());
    let headers = [
        libtorch.join("include"),
        libtorch.join("include/torch/csrc/api/include"),
    ];
    let cuda = env::var_os("CARGO_FEATURE_CUDA").is_some();
    let mut cpp = cc::Build::new();
    cpp.cpp(true)
        .std("c++20")
        .opt_level(3)
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .flag("-Wextra")
        .files(sources(&root, "cpp"));
    for dir in &headers {
        cpp.flag("-isystem")
            .flag(dir.to_str().expect("UTF-8 libtorch path"));
    }
    if cuda {
        cpp.define("KIMG_CUDA", None);
    }
    cpp.compile("kimg_kernels");
    if cuda {
        compile_cuda_launchers(&root, libtorch, &headers);
    }
}

/// The CUDA launchers, compiled by `$NVCC`, else `$CUDA_HOME/bin/nvcc`, else the `nvcc` that PyPI's
/// `nvidia-cuda-nvcc` puts beside libtorch's CUDA libraries (`make setup-cuda`), for the GPU
/// architectures of `$KIMG_CUDA_ARCHS` (default `75;80;86;89;90`, plus PTX of the last one for
/// newer GPUs), then archived by `cc`.
fn compile_cuda_launchers(root: &Path, libtorch: &Path, headers: &[PathBuf]) {
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=KIMG_CUDA_ARCHS");
    let pypi_cuda = libtorch.join("../nvidia/cu13");
    let cuda_home = env::var_os("CUDA_HOME").map(PathBuf::from);
    let nvcc = env::var_os("NVCC")
        .map(PathBuf::from)
        .or_else(|| cuda_home.as_ref().map(|home| home.join("bin/nvcc")))
        .filter(|path| path.exists())
        .or_else(|| Some(pypi_cuda.join("bin/nvcc")).filter(|path| path.exists()))
        .unwrap_or_else(|| {
            panic!("the `cuda` feature needs nvcc: set NVCC or CUDA_HOME, or run `make setup-cuda`")
        });
    let toolkit = nvcc
        .parent()
        .and_then(Path::parent)
        .expect("nvcc lives in <toolkit>/bin");
    let archs = env::var("KIMG_CUDA_ARCHS").unwrap_or_else(|_| "75;80;86;89;90".into());
    let mut flags: Vec<std::ffi::OsString> = [
        "-c",
        "-std=c++17",
        "-O3",
        "-Xcompiler",
        "-fPIC",
        "-D_GLIBCXX_USE_CXX11_ABI=1",
        "-DKIMG_CUDA",
    ]
    .into_iter()
    .map(Into::into)
    .collect();
    flags.push(format!("-I{}", toolkit.join("include").display()).into());
    flags.push(format!("-I{}", pypi_cuda.join("include").display()).into());
    for dir in headers {
        flags.push("-isystem".into());
        flags.push(dir.into());
    }
    let archs: Vec<&str> = archs
        .split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    for arch in &archs {
        flags.push(format!("-gencode=arch=compute_{arch},code=sm_{arch}").into());
    }
    if let Some(last) = archs.last() {
        flags.push(format!("-gencode=arch=compute_{last},code=compute_{last}").into());
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let mut archive = cc::Build::new();
    for source in sources(root, "cu") {
        let object = out_dir
            .join(source.file_name().expect("a file"))
            .with_extension("o");
        let status = std::process::Command::new(&nvcc)
            .args(&flags)
            .arg(&source)
            .arg("-o")
            .arg(&object)
            .status()
            .unwrap_or_else(|e| panic!("running {}: {e}", nvcc.display()));
        assert!(status.success(), "nvcc failed on {}", source.display());
        archive.object(&object);
    }
    archive.compile("kimg_kernels_cuda");
    // The CUDA runtime the launchers call: libtorch's own (PyPI ships only the versioned name).
    let runtime = [
        cuda_home.map(|home| home.join("lib64/libcudart.so")),
        Some(pypi_cuda.join("lib/libcudart.so.13")),
    ]
    .into_iter()
    .flatten()
    .find(|path| path.exists())
    .expect("no libcudart.so: set CUDA_HOME");
    println!("cargo:rustc-link-arg={}", runtime.display());
    if let Some(dir) = runtime.parent() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}

/// The files of `dir` ending in `.{extension}`, sorted.
fn sources(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
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
