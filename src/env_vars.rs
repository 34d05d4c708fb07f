//! Every environment variable kimg reads, in one place, each with what it does.

/// Path of the libtorch installation (its `lib/` and `include/`); read by `torch-sys` at build time
/// and reported by `kimg doctor`.
pub const LIBTORCH: &str = "LIBTORCH";

/// Prefix of configuration overrides: `KIMG_TRAIN__GAMMA=4` sets `train.gamma` (sections are split
/// on `__`). Applied after the manifest and before `--set`.
pub const CONFIG_PREFIX: &str = "KIMG_";

/// When set (to anything), progress bars are hidden even on a terminal.
pub const NO_PROGRESS: &str = "KIMG_NO_PROGRESS";

/// `reference` forces the reference ops (`upfirdn2d`, `filtered_lrelu`, `bias_act` and the
/// resampling of `conv2d_resample` as the official `impl='ref'` computes them) on every device,
/// instead of the polyphase resampling (CPU, or CUDA without the fused kernels) or the fused
/// kernels (CUDA): for comparing results or speed. Read once per process.
pub const OPS: &str = "KIMG_OPS";

/// When set (to anything), a worker ignores successive halving: it neither decides at rungs nor
/// stops (set by `kimg run --no-halving`).
pub const NO_HALVING: &str = "KIMG_NO_HALVING";

/// The conventional switch that turns colour off in diagnostics and tables.
pub const NO_COLOR: &str = "NO_COLOR";

/// Cache directory of the feature detector and the dataset feature statistics (default
/// `$XDG_CACHE_HOME/kimg`, else `~/.cache/kimg`).
pub const CACHE_DIR: &str = "KIMG_CACHE_DIR";

/// The Inception-v3 detector file of the metrics, when `--detector` is not given (default: looked
/// up in the cache directory).
pub const DETECTOR: &str = "KIMG_DETECTOR";

/// Where to download the Inception-v3 detector from when none is found (default: the official URL
/// of `inception-2015-12-05.pt`); `off` turns downloading off.
pub const DETECTOR_URL: &str = "KIMG_DETECTOR_URL";

/// The VGG16 detector file of precision/recall, when `--vgg16` is not given (default: looked up in
/// the cache directory).
pub const VGG16: &str = "KIMG_VGG16";

/// Where to download the VGG16 detector from when none is found (default: the official URL of
/// `vgg16.pt`); `off` turns downloading off.
pub const VGG16_URL: &str = "KIMG_VGG16_URL";

/// libgomp's wait policy. kimg sets it to `PASSIVE` for CPU training (`kimg train` on the CPU
/// re-executes itself with it unless it is set; `kimg run` sets it for CPU workers): idle OpenMP
/// workers then sleep instead of spinning, which on shared cores made training 2–6× faster.
pub const OMP_WAIT_POLICY: &str = "OMP_WAIT_POLICY";

/// Fault injection, for tests only: `snapshot-write:<kill|fail|enospc>[:<after>]` lets `<after>`
/// snapshot writes of the process through (default 0), then strikes the next ones half-way through
/// writing the temporary file, before the rename: `kill` ends the process with SIGKILL, `fail`
/// fails the write, `enospc` fails it as a full disk does (`No space left on device`).
pub const FAULT: &str = "KIMG_FAULT";
