#!/usr/bin/env bash
# The fixture-parity and determinism tests again under other CPU kernels than this machine picks
# (`make test-isa`, run by CI after `make test`), so that a tolerance tuned on one CPU cannot pass
# here and fail on a user's.
#
# libtorch chooses its kernels per instruction set: oneDNN's convolutions (ONEDNN_MAX_CPU_ISA lowers
# the ISA they may use) and ATen's vectorised element-wise and reduction code (ATEN_CPU_CAPABILITY).
# Both variables can only lower what the CPU has, so the cells that emulate an AVX2-only CPU run
# where the CPU has AVX-512. Under ATEN_CPU_CAPABILITY=default, torch.randn's Box-Muller transform
# runs scalar instead of vectorised and its values move by a few float32 ulps, so the tests that
# compare draws from torch's generator bit for bit against a fixture (network initialisation, the
# training step's latents) are left out of that cell: a property of libtorch, not a tolerance.
set -euo pipefail
cd "$(dirname "$0")/.."

# The integration-test modules that compare with the reference fixtures or assert exact
# determinism (resume, replicas, reproducible metrics).
PARITY=(augment data equivariance generate kernels loss metrics nets ops snapshot training trainstep)
# Tests whose fixtures hold torch.randn draws compared bit for bit.
DRAWS_EXACTLY=(--skip nets::stylegan --skip ops::fully_connected_initialisation --skip trainstep::)

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
has() { grep -qw "$1" /proc/cpuinfo; }
isa=avx2
has avx512f && isa=avx512
has avx2 || isa=sse4.1
echo "test-isa: CPU ${cpu_model:-unknown}, $(nproc) cores, widest ISA ${isa}"

CARGO=${CARGO:-cargo}
failed=()
# cell NAME VARIABLE=VALUE… -- [test filters and --skip options…]
cell() {
    local name=$1 settings=()
    shift
    while [ "$1" != -- ]; do
        settings+=("$1")
        shift
    done
    shift
    echo
    echo "test-isa: cell ${name} (${settings[*]})"
    local start=$SECONDS
    if env "${settings[@]}" "$CARGO" test --locked --test it -- "$@"; then
        echo "test-isa: cell ${name} passed in $((SECONDS - start)) s"
    else
        echo "test-isa: cell ${name} FAILED"
        failed+=("$name")
    fi
}

cell "oneDNN SSE4.1 convolutions" ONEDNN_MAX_CPU_ISA=SSE41 -- "${PARITY[@]}"
if [ "$isa" = avx512 ]; then
    # What an AVX2-only CPU (e.g. AMD EPYC of family 23) runs: both libraries lowered at once.
    cell "an AVX2-only CPU" ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 -- "${PARITY[@]}"
else
    echo "test-isa: no AVX-512 here: the AVX2 cell would be this machine's own kernels (make test)"
fi
cell "ATen scalar kernels, without the exact-draw tests" ATEN_CPU_CAPABILITY=default -- \
    "${PARITY[@]}" "${DRAWS_EXACTLY[@]}"
# The farthest from this machine: scalar ATen and SSE4.1 convolutions together.
cell "scalar ATen with SSE4.1 convolutions, without the exact-draw tests" \
    ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 -- "${PARITY[@]}" "${DRAWS_EXACTLY[@]}"
cell "one OpenMP thread" OMP_NUM_THREADS=1 -- "${PARITY[@]}"

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "test-isa: failed cells: ${failed[*]}"
    exit 1
fi
echo "test-isa: every cell passed"
