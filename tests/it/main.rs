//! kimg's integration tests: one binary, one module per feature.
#![allow(
    clippy::too_many_lines,
    reason = "a scenario reads top to bottom (set up, act, check every output); the library's \
              functions keep the 100-line limit"
)]

mod common; // fixture loading and tolerance checks shared by the golden tests

mod augment; // the ADA pipeline against the reference fixture
mod chaos; // SIGKILL at random moments, failed snapshot writes, full disks, concurrent kimg run
mod cli; // the `kimg` binary end to end: exit codes, stdout, stderr
mod data; // datasets, sampler, grids and numpy RNG against the reference fixtures
mod dataset_check; // kimg dataset check; kimg run refusing bad data before starting any run
mod equivariance; // the StyleGAN3 equivariance operators against the reference fixture
mod generate; // kimg generate: seeds, uint8 rule, snapshots of reference weights
mod gpu_kernel_check; // scripts/gpu-kernel-check.py: its layer table is the schedule; it passes on the CPU
mod halving; // successive halving end to end: a CPU sweep's rungs, decisions and interruption
mod kernels; // the fused kernels' CPU launcher against the reference ops
mod layers; // the layer rule of src/: no module uses one above it
mod loss; // the StyleGAN2 loss phases against the reference
mod manifest_errors; // every file in tests/fixtures/manifests/invalid fails as its header says
mod manifests; // shipped experiments and presets load and resolve; precedence and provenance
mod metrics; // FID/KID/PR/IS math against the reference, detector, stats cache, fid/metrics/report
mod nets; // the networks against the reference fixtures (outputs, EMAs, gradients, init)
mod nopanic; // generated and mutated inputs (manifests, sweeps, zips, snapshots, pickles): no panic
mod ops; // the ops against the reference fixtures (outputs and gradients)
mod presets_table; // every preset equals its row of the published tables; `auto` reproduces its rows
mod report_html; // kimg report's HTML page in headless Chromium: rows, best run, thumbnails
mod scheduler; // kimg run: sweeps to completion, killed workers resume, nothing repeated
mod slurm; // kimg run --on slurm against a local single-node cluster (skipped without one)
mod snapshot; // official network pickles read without Python
mod sweep; // sweep expansion and run identity
mod tensorboard; // event files read back by TensorBoard's own reader; resumed runs supersede
mod training; // the loop end to end: run files, exact resume, transfer learning
mod trainstep; // two whole training iterations against the reference loop body
