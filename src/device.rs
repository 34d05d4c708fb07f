//! What libtorch can compute on here: the version, CUDA/cuDNN availability and devices.
//!
//! `kimg doctor` prints a [`Report`]; commands resolve `--device` through [`DeviceChoice::resolve`].

use std::fmt;
use std::path::PathBuf;

/// Where the math runs, as `--device` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA GPU (an error when there is none).
    Cuda,
}

impl DeviceChoice {
    /// The `tch` device (the first GPU for CUDA), or `None` when CUDA was demanded but libtorch
    /// cannot use it.
    pub fn resolve(self) -> Option<tch::Device> {
        match self {
            DeviceChoice::Cpu => Some(tch::Device::Cpu),
            DeviceChoice::Auto => Some(tch::Device::cuda_if_available()),
            DeviceChoice::Cuda => tch::Cuda::is_available().then_some(tch::Device::Cuda(0)),
        }
    }
}

/// One CUDA device as `kimg doctor` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GpuInfo {
    /// CUDA ordinal.
    pub index: usize,
    /// Marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Total memory in bytes.
    pub total_memory_bytes: u64,
}

/// Everything `kimg doctor` reports about the compute set-up.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// libtorch version as compiled into `torch-sys`'s headers (e.g. `2.13.0`).
    pub libtorch_version: String,
    /// The libtorch directory the binary was built against (and has an rpath to).
    pub libtorch_dir: Option<PathBuf>,
    /// Whether the binary links `libtorch_cuda` (a CUDA build of libtorch).
    pub linked_with_cuda: bool,
    /// Whether the fused kernels' CUDA launchers are compiled in (the `cuda` feature).
    pub fused_cuda_kernels: bool,
    /// Whether CUDA is usable now (driver and at least one GPU present).
    pub cuda_available: bool,
    /// Whether cuDNN is usable now.
    pub cudnn_available: bool,
    /// The GPUs libtorch sees.
    pub gpus: Vec<GpuInfo>,
    /// Threads libtorch uses for CPU ops.
    pub cpu_threads: i32,
    /// Logical CPUs of this machine.
    pub cpu_count: usize,
}

impl Report {
    /// Probe libtorch now.
    pub fn probe() -> Report {
        let cuda_available = tch::Cuda::is_available();
        let gpu_count = if cuda_available {
            tch::Cuda::device_count().max(0)
        } else {
            0
        };
        let gpus = (0..gpu_count)
            .map(|index| gpu_info(usize::try_from(index).unwrap_or_default()))
            .collect();
        Report {
            libtorch_version: libtorch_version(),
            libtorch_dir: option_env!("KIMG_LIBTORCH_DIR").map(PathBuf::from),
            linked_with_cuda: cfg!(kimg_libtorch_cuda),
            fused_cuda_kernels: crate::ops::fused::cuda_launchers(),
            cuda_available,
            cudnn_available: tch::Cuda::cudnn_is_available(),
            gpus,
            cpu_threads: tch::get_num_threads(),
            cpu_count: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }

    /// A set-up is usable when libtorch loads and computes on the CPU (CUDA is optional).
    pub fn is_usable(&self) -> bool {
        let probe = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]).sum(tch::Kind::Float);
        (probe.double_value(&[]) - 6.0).abs() < 1e-9
    }
}

fn gpu_info(index: usize) -> GpuInfo {
    // Allocating through libtorch is the portable way to name a device without the CUDA runtime
    // API; tch exposes no device-properties call, so the name comes from `nvidia-smi` when present.
    let (name, total_memory_bytes) =
        nvidia_smi_row(index).unwrap_or_else(|| ("CUDA device".into(), 0));
    GpuInfo {
        index,
        name,
        total_memory_bytes,
    }
}

fn nvidia_smi_row(index: usize) -> Option<(String, u64)> {
    let output = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total",
            "--format=csv,noheader,nounits",
        ])
        .arg(format!("--id={index}"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let (name, mib) = text.trim().rsplit_once(',')?;
    let mib: u64 = mib.trim().parse().ok()?;
    Some((name.trim().to_string(), mib * 1024 * 1024))
}

/// The version of the libtorch the binary was built against, read by `build.rs`.
pub fn libtorch_version() -> String {
    option_env!("KIMG_LIBTORCH_VERSION")
        .unwrap_or("unknown")
        .to_string()
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "libtorch     {}", self.libtorch_version)?;
        match &self.libtorch_dir {
            Some(dir) => writeln!(f, "found at     {}", dir.display())?,
            None => writeln!(f, "found at     (unknown: built without LIBTORCH)")?,
        }
        writeln!(f, "CUDA build   {}", yes_no(self.linked_with_cuda))?;
        writeln!(
            f,
            "CUDA kernels {}",
            if self.fused_cuda_kernels {
                "fused bias_act and upfirdn2d (built with the `cuda` feature)"
            } else {
                "none: the reference ops (build with `make build-cuda` for fused ones)"
            }
        )?;
        writeln!(f, "CUDA usable  {}", yes_no(self.cuda_available))?;
        writeln!(f, "cuDNN usable {}", yes_no(self.cudnn_available))?;
        if self.gpus.is_empty() {
            writeln!(f, "GPUs         none")?;
        }
        for gpu in &self.gpus {
            let gib = gpu.total_memory_bytes as f64 / f64::from(1u32 << 30);
            writeln!(f, "GPU {}        {} ({gib:.1} GiB)", gpu.index, gpu.name)?;
        }
        write!(
            f,
            "CPU threads  {} (of {} logical CPUs)",
            self.cpu_threads, self.cpu_count
        )
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// Resident memory of this process in GiB (`cpumem` of the reference's tick line), read from
/// `VmRSS` in `/proc/self/status`; 0 where that file does not exist.
pub fn process_memory_gib() -> f64 {
    let kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    #[expect(
        clippy::cast_precision_loss,
        reason = "memory sizes are far below 2^52"
    )]
    let kib = kib as f64;
    kib / f64::from(1u32 << 20)
}
