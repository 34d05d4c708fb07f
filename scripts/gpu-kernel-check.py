#!/usr/bin/env python3
"""Check and time kimg's fused kernels (kernels/) against plain torch ops, on a GPU or the CPU.

On a lent GPU machine (torch and nvcc, no Rust, no network), from the repository root -- about a
minute to compile on 16 cores, a few to run; no layer is timed once 6 minutes have passed (--budget-s), so it ends within 8:

    python3 scripts/gpu-kernel-check.py --device cuda --out $OUT/gpu-kernels.json

On the CPU, as `cargo test --test it gpu_kernel_check::` runs it under `make test` (CPU launchers,
small shapes; about a CPU-minute to compile, 15 CPU-seconds to run):

    .venv/bin/python scripts/gpu-kernel-check.py --device cpu --quick --out target/kernels.json

It compiles kernels/ with the torch in use (scripts/kernel_ext.py; no ninja needed) and calls the
fused ops through the C interface that kimg's Rust code calls (kernels/python/torch_ops.cpp). Three
implementations: `composed` -- plain torch ops written here from the op definitions (what kimg's
reference path does); `fused` -- kimg's fused bias_act and upfirdn2d, filtered_lrelu composed of
them (what kimg ran on CUDA before the fused filtered_lrelu); `fused_kernel` -- filtered_lrelu as its
own fused kernel (what kimg runs on CUDA now). It

- checks every fused op (bias_act, upfirdn2d, filtered_lrelu on the geometry of StyleGAN3-T and -R
  layers, odd sizes, non-contiguous inputs) against the composition in float64: values and the
  gradients of input and bias, in float64 and float32 (CPU and CUDA) and float16 (CUDA only: the
  CPU launchers compute no half); float16 passes within its tolerance or within 4x the error of
  the plain ops in float16;
- times each implementation, forward and forward+backward (median of --reps, CUDA peak memory),
  on the filtered_lrelu of the heaviest layer of the recommended StyleGAN3-T and -R at 256^2 and
  1024^2 (scripts/gpu-kernel-check-layers.json: kimg's own schedule, kept equal to it by that
  test) at 4 images per GPU, in the layer's precision (float16 where StyleGAN3 uses it on CUDA);
  on the CPU (--quick, the default there) one such layer with 4 channels and 1 image;
- writes the figures as one JSON (--out; default $OUT/gpu-kernels.json when $OUT is set, else
  target/gpu-kernels.json); exits 1 when a check fails, 2 on bad arguments, 3 when the kernels do
  not build.
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in scripts/ from the import below
sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_ext  # noqa: E402 (the build helper beside this script)

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ROOT / "scripts" / "gpu-kernel-check-layers.json"
ACTIVATIONS = {"linear": 0, "relu": 1, "lrelu": 2}
# Largest error allowed against the float64 composition, by dtype: relative to the reference's
# largest magnitude (float64, float32) or in the L2 norm (float16, where a value near a leaky
# ReLU's kink may take the other branch and move a single gradient entry by a lot).
TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-5, torch.float16: 1e-2}


def log(message):
    print(message, flush=True)


# ---- The ops as plain torch ops, from their definitions. ----


class Composed:
    """Each op as a composition of plain torch ops (what kimg's reference path does)."""

    name = "composed"

    @staticmethod
    def bias_act(x, b, dim, act, alpha, gain, clamp):
        """`act(x + b) * gain`, then clamped to [-clamp, clamp] unless clamp is None; the bias runs
        along `dim`. A clamped output passes no gradient, at the bound too, as the kernel's."""
        if b is not None:
            x = x + b.reshape([-1 if d == dim else 1 for d in range(x.dim())])
        if act == "relu":
            x = torch.where(x > 0, x, torch.zeros_like(x))
        elif act == "lrelu":
            x = torch.where(x > 0, x, x * alpha)
        x = x * gain
        if clamp is not None:
            x = torch.where(x.abs() < clamp, x, x.sign() * clamp)
        return x

    @staticmethod
    def upfirdn2d(x, k, up, down, pad):
        """Insert `up - 1` zeros after every sample, pad by `pad` = [x0, x1, y0, y1] (negative
        crops), correlate each channel with `k [kh, kw]`, keep every `down`-th sample; `up`
        and `down` are (x, y)."""
        n, c, h, w = x.shape
        u = x.new_zeros(n, c, h * up[1], w * up[0])
        u[:, :, :: up[1], :: up[0]] = x
        u = F.pad(u, list(pad))
        y = F.conv2d(u, k.to(x.dtype)[None, None].expand(c, 1, *k.shape), groups=c)
        return y[:, :, :: down[1], :: down[0]]


class Fused:
    """Each op through kimg's kernels (`torch.ops.kimg`, the C interface kimg calls)."""

    name = "fused"

    @staticmethod
    def bias_act(x, b, dim, act, alpha, gain, clamp):
        clamp = -1.0 if clamp is None else float(clamp)
        return torch.ops.kimg.bias_act(x, b, dim, ACTIVATIONS[act], alpha, gain, clamp)

    @staticmethod
    def upfirdn2d(x, k, up, down, pad):
        return torch.ops.kimg.upfirdn2d(x, k, up[0], up[1], down[0], down[1], *pad)


class FusedKernel(Fused):
    """kimg's kernels with filtered_lrelu as one fused op."""

    name = "fused_kernel"

    @staticmethod
    def filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp):
        ku, kd = correlation_kernel(fu, up * up, x), correlation_kernel(fd, 1.0, x)
        clamp = -1.0 if clamp is None else float(clamp)
        return torch.ops.kimg.filtered_lrelu(x, ku, kd, b, up, down, *pad, gain, slope, clamp)


def correlation_kernel(f, gain, x):
    """The filter `f` (None, 1-D separable or 2-D) as the kernels take it: flipped (a true
    convolution), scaled so that it has the gain `gain` in 2-D, float32 unless `x` is float64."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    if f is None:
        return torch.full((1, 1), float(gain), dtype=dtype, device=x.device)
    per_pass = gain if f.dim() == 2 else math.sqrt(gain)
    return (f.flip(list(range(f.dim()))) * per_pass).to(x.device, dtype)


def resample(ops, x, f, up, down, pad, gain):
    """upfirdn2d with the filter `f` (None, 1-D separable, or 2-D) as a true convolution scaled by
    `gain`: a separable filter runs as a pass along x then one along y, as kimg runs it."""
    k = correlation_kernel(f, gain, x)
    if k.dim() == 2:
        return ops.upfirdn2d(x, k, (up, up), (down, down), pad)
    x = ops.upfirdn2d(x, k[None, :], (up, 1), (down, 1), [pad[0], pad[1], 0, 0])
    return ops.upfirdn2d(x, k[:, None], (1, up), (1, down), [0, 0, pad[2], pad[3]])


def filtered_lrelu(ops, x, fu, fd, b, up, down, pad, gain, slope, clamp):
    """StyleGAN3's nonlinearity: add the bias, upsample by `up` with `fu` (gain up^2) and the
    padding, leaky ReLU times `gain`, clamp, filter with `fd` and keep every `down`-th sample.
    The op's own kernel where `ops` has one, else composed of bias_act and upfirdn2d."""
    if hasattr(ops, "filtered_lrelu"):
        return ops.filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp)
    x = ops.bias_act(x, b, 1, "linear", 0.0, 1.0, None)
    x = resample(ops, x, fu, up, 1, pad, up * up)
    x = ops.bias_act(x, None, 1, "lrelu", slope, gain, clamp)
    return resample(ops, x, fd, 1, down, [0, 0, 0, 0], 1.0)


# ---- Checks. ----


class Case:
    """One check: an op on inputs; `run(ops, x, b)` gives the output."""

    def __init__(self, op, label, x, b, run):
        self.op, self.label, self.x, self.b, self.run = op, label, x, b, run


def away_from_kinks(x, b, gain, clamp):
    """Move `x` so that no `x + b` sits within 0.05 of the activation's kink or the clamp, where
    rounding alone could pick the other branch of the gradient."""
    v = x + b.reshape(1, -1, *([1] * (x.dim() - 2))) if b is not None else x
    x = torch.where(v.abs() < 0.05, x + 0.1 * torch.where(v < 0, -1.0, 1.0), x)
    v = x + b.reshape(1, -1, *([1] * (x.dim() - 2))) if b is not None else x
    if clamp is not None:
        near = ((v.abs() * gain) - clamp).abs() < 0.05
        x = torch.where(near, x + 0.1 * v.sign(), x)
    return x


def bias_act_cases(gen):
    cases = []
    specs = [  # (shape, dim, act, alpha, gain, clamp, bias)
        ((2, 5, 7, 9), 1, "lrelu", 0.2, math.sqrt(2), 1.0, True),
        ((3, 6, 11), 1, "relu", 0.0, 1.0, None, True),
        ((4, 3, 5, 5), 0, "linear", 0.0, 0.5, 0.8, True),
        ((2, 8, 6, 6), 1, "lrelu", 0.1, 2.0, None, False),
    ]
    for shape, dim, act, alpha, gain, clamp, with_bias in specs:
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        b = torch.randn(shape[dim], generator=gen, dtype=torch.float64) if with_bias else None
        if dim == 1:
            x = away_from_kinks(x, b, gain, clamp)
        else:
            x = away_from_kinks(x.movedim(dim, 1), b, gain, clamp).movedim(1, dim)
        label = f"{act} dim={dim} x{list(shape)} gain={gain:.3g} clamp={clamp} bias={with_bias}"

        def run(ops, x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp):
            return ops.bias_act(x, b, dim, act, alpha, gain, clamp)

        cases.append(Case("bias_act", label, x, b, run))
    # A non-contiguous input (channels last in memory).
    x = torch.randn(2, 6, 5, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)
    x = away_from_kinks(x.movedim(3, 1), b, 1.0, None).movedim(1, 3)
    cases.append(Case("bias_act", "lrelu dim=3 non-contiguous", x.transpose(1, 2).contiguous()
                      .transpose(1, 2), b,
                      lambda ops, x, b: ops.bias_act(x, b, 3, "lrelu", 0.2, 1.0, None)))
    return cases


def upfirdn2d_cases(gen):
    cases = []
    specs = [  # (x shape, k shape, up, down, pad)
        ((2, 3, 9, 7), (4, 4), (2, 2), (1, 1), (2, 1, 2, 1)),
        ((2, 3, 10, 13), (4, 4), (1, 1), (2, 2), (1, 1, 1, 1)),
        ((1, 2, 8, 8), (3, 3), (1, 1), (1, 1), (-1, 2, 0, -1)),
        ((2, 2, 7, 9), (1, 6), (2, 1), (1, 1), (3, 2, 0, 0)),
        ((1, 3, 9, 8), (12, 1), (1, 4), (1, 2), (0, 0, 9, 10)),
        ((1, 2, 11, 10), (5, 3), (2, 1), (1, 2), (1, 2, -2, 3)),
        ((2, 2, 6, 7), (8, 8), (4, 4), (4, 4), (4, 3, 4, 3)),
    ]
    for xs, ks, up, down, pad in specs:
        x = torch.randn(xs, generator=gen, dtype=torch.float64)
        k = torch.randn(ks, generator=gen, dtype=torch.float64) / math.sqrt(ks[0] * ks[1])
        label = f"x{list(xs)} k{list(ks)} up={up} down={down} pad={list(pad)}"

        def run(ops, x, b, k=k, up=up, down=down, pad=pad):
            return ops.upfirdn2d(x, k.to(x.device), up, down, pad)

        cases.append(Case("upfirdn2d", label, x, None, run))
    x = torch.randn(2, 3, 9, 11, generator=gen, dtype=torch.float64).transpose(2, 3)
    k = torch.randn(3, 5, generator=gen, dtype=torch.float64) / 4
    cases.append(Case("upfirdn2d", "x[2, 3, 11, 9] transposed, k[3, 5] up=2 down=1", x, None,
                      lambda ops, x, b: ops.upfirdn2d(x, k.to(x.device), (2, 2), (1, 1),
                                                      (2, 2, 1, 3))))
    return cases


def layer_filters(layer, gen, device):
    """Random filters with the layer's taps: 1-D (separable), or 2-D for a radial down filter."""
    def taps(n, radial):
        if n == 1:
            return None
        f = torch.randn((n, n) if radial else (n,), generator=gen, dtype=torch.float64)
        return (f / f.abs().sum() * (n if radial else 1) * 2).to(device)

    return taps(layer["up_taps"], False), taps(layer["down_taps"], layer["radial"])


def filtered_lrelu_args(layer, fu, fd, clamp):
    gain, slope = (1.0, 1.0) if layer["torgb"] else (math.sqrt(2), 0.2)
    return dict(fu=fu, fd=fd, up=layer["up"], down=layer["down"], pad=layer["padding"],
                gain=gain, slope=slope, clamp=clamp)


def filtered_lrelu_cases(gen, configs):
    """The geometry of three layers of the 256^2 -T and -R (the first, the first upsampling by 4,
    the last before ToRGB) and of ToRGB, with random filters, 3 channels and 2 images."""
    cases = []
    for config in configs:
        if not config["name"].endswith("-256"):
            continue
        layers = config["layers"]
        picked = [layers[0], next(l for l in layers if l["up"] == 4), layers[-2]]
        if config["name"].startswith("stylegan3-t"):
            picked.append(layers[-1])
        for layer in picked:
            fu, fd = layer_filters(layer, gen, "cpu")
            size = layer["in_size"]
            x = torch.randn(2, 3, size, size, generator=gen, dtype=torch.float64)
            b = torch.randn(3, generator=gen, dtype=torch.float64)
            kwargs = filtered_lrelu_args(layer, fu, fd, 1.0)
            label = f"{config['name']} {layer['name']} geometry, x[2, 3, {size}, {size}]"

            def run(ops, x, b, kwargs=kwargs, out_size=layer["out_size"]):
                moved = {k: (v.to(x.device) if torch.is_tensor(v) else v)
                         for k, v in kwargs.items()}
                y = filtered_lrelu(ops, x, b=b, **moved)
                assert y.shape[-2:] == (out_size, out_size), (y.shape, out_size)
                return y

            cases.append(Case("filtered_lrelu", label, x, b, run))
    return cases


def errors(got, want):
    """(max |got - want| / max |want|, ||got - want|| / ||want||), in float64."""
    got, want = got.double(), want.double()
    diff = (got - want).abs()
    scale = want.abs().max().clamp_min(1e-30)
    return (diff.max() / scale).item(), (diff.norm() / want.norm().clamp_min(1e-30)).item()


def evaluate(ops, case, dtype, device, dy):
    """Output and input/bias gradients of `case` under `ops` in `dtype` on `device`."""
    x = case.x.to(device, dtype, copy=True).requires_grad_(True)
    b = case.b.to(device, dtype, copy=True).requires_grad_(True) if case.b is not None else None
    y = case.run(ops, x, b)
    y.backward(dy.to(device, dtype))
    out = {"y": y.detach(), "dx": x.grad}
    if b is not None:
        out["db"] = b.grad
    return out


def check(case, ops, dtype, device, gen):
    """One case in one dtype: `ops` vs the float64 composition; a record for the JSON."""
    shape = case.run(Composed, case.x, case.b).shape
    dy = torch.randn(shape, generator=gen, dtype=torch.float64)
    reference = evaluate(Composed, case, torch.float64, device, dy)
    record = {"op": case.op, "impl": ops.name, "case": case.label,
              "dtype": str(dtype).replace("torch.", ""), "device": device}
    try:
        fused = evaluate(ops, case, dtype, device, dy)
    except RuntimeError as error:
        record.update(passed=False, error=str(error).split("\n")[0])
        return record
    plain = evaluate(Composed, case, dtype, device, dy) if dtype == torch.float16 else None
    passed = True
    for name, want in reference.items():
        got = fused[name]
        if got is None or got.shape != want.shape:
            record[name] = {"error": f"shape {None if got is None else list(got.shape)}, "
                                     f"want {list(want.shape)}"}
            passed = False
            continue
        max_rel, l2_rel = errors(got, want)
        entry = {"max_rel": max_rel, "l2_rel": l2_rel}
        if plain is not None:
            entry["composed_l2_rel"] = errors(plain[name], want)[1]
            ok = l2_rel <= max(TOLERANCE[dtype], 4 * entry["composed_l2_rel"])
        else:
            ok = max_rel <= TOLERANCE[dtype]
        entry["passed"] = bool(ok and math.isfinite(max_rel))
        passed = passed and entry["passed"]
        record[name] = entry
    record["passed"] = passed
    return record


def run_checks(device, configs, seed):
    gen = torch.Generator().manual_seed(seed)
    cases = [(c, Fused) for c in bias_act_cases(gen) + upfirdn2d_cases(gen)]
    cases += [(c, ops) for c in filtered_lrelu_cases(gen, configs) for ops in (Fused, FusedKernel)]
    dtypes = [torch.float64, torch.float32] + ([torch.float16] if device == "cuda" else [])
    records = []
    for dtype in dtypes:
        for case, ops in cases:
            record = check(case, ops, dtype, device, gen)
            records.append(record)
            worst = max((v["max_rel"] for v in record.values()
                         if isinstance(v, dict) and "max_rel" in v), default=float("nan"))
            status = "ok  " if record["passed"] else "FAIL"
            log(f"  {status} {record['dtype']:7} {case.op:14} {ops.name:12} worst {worst:.1e}  "
                f"{case.label}"
                + (f"  ({record['error']})" if "error" in record else ""))
    return records


# ---- Timings. ----


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def measure(step, device, reps):
    """Median milliseconds of `step()` over `reps` runs after one warm-up, and peak CUDA MiB."""
    step()
    synchronize(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        step()
        synchronize(device)
        times.append((time.perf_counter() - started) * 1e3)
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if device == "cuda" else None
    return statistics.median(times), peak


def time_layer(config, layer, device, dtype, batch, channels, reps, gen):
    """Fused vs composed filtered_lrelu of one layer, forward and forward+backward."""
    size = layer["in_size"]
    x = torch.randn(batch, channels, size, size, generator=gen).to(device, dtype)
    b = torch.randn(channels, generator=gen).to(device, dtype)
    out = layer["out_size"]
    dy = torch.randn(batch, channels, out, out, generator=gen).to(device, dtype)
    fu, fd = layer_filters(layer, gen, device)
    kwargs = filtered_lrelu_args(layer, fu, fd, config["conv_clamp"])
    record = {"config": config["name"], "layer": layer["name"], "device": device,
              "dtype": str(dtype).replace("torch.", ""), "x": list(x.shape),
              "up": layer["up"], "down": layer["down"], "up_taps": layer["up_taps"],
              "down_taps": layer["down_taps"], "radial_down": layer["radial"]}
    for ops in (Composed, Fused, FusedKernel):
        def forward(ops=ops):
            with torch.no_grad():
                return filtered_lrelu(ops, x, b=b, **kwargs)

        xg = x.detach().requires_grad_(True)
        bg = b.detach().requires_grad_(True)

        def forward_backward(ops=ops):
            xg.grad = bg.grad = None
            y = filtered_lrelu(ops, xg, b=bg, **kwargs)
            y.backward(dy)

        where = f"  {config['name']} {layer['name']} {record['dtype']} x{record['x']} {ops.name:12}"
        try:
            fwd, fwd_peak = measure(forward, device, reps)
            both, both_peak = measure(forward_backward, device, reps)
        except torch.cuda.OutOfMemoryError:
            record[ops.name] = {"error": "out of memory"}
            log(f"{where} out of memory")
            xg.grad = bg.grad = None
            torch.cuda.empty_cache()
            continue
        record[ops.name] = {"fwd_ms": fwd, "fwd_bwd_ms": both, "fwd_peak_mib": fwd_peak,
                            "fwd_bwd_peak_mib": both_peak}
        log(f"{where} fwd {fwd:9.2f} ms  fwd+bwd {both:9.2f} ms")
    for ops in (Fused, FusedKernel):
        for figure in ("fwd", "fwd_bwd"):
            mine, composed = record[ops.name], record["composed"]
            if "error" not in mine and "error" not in composed:
                mine[f"speedup_{figure}"] = composed[f"{figure}_ms"] / mine[f"{figure}_ms"]
    return record


def heaviest(config):
    """The layer whose filtered_lrelu handles the most upsampled samples."""
    def cost(layer):
        return layer["channels"] * (layer["in_size"] * layer["up"]) ** 2

    return max(config["layers"], key=cost)


def run_timings(device, configs, args, gen, started):
    records = []
    for config in configs:
        if args.quick and config["name"] != "stylegan3-t-256":
            continue
        layer = heaviest(config)
        if time.monotonic() - started > args.budget_s:
            log(f"  {config['name']} {layer['name']}: skipped, past --budget-s {args.budget_s}")
            records.append({"config": config["name"], "layer": layer["name"],
                            "skipped": f"past --budget-s {args.budget_s}"})
            continue
        use_half = device == "cuda" and layer["fp16"]
        dtype = torch.float16 if use_half else torch.float32
        batch, channels = (1, 4) if args.quick else (config["batch_gpu"], layer["channels"])
        records.append(time_layer(config, layer, device, dtype, batch, channels, args.reps, gen))
        if device == "cuda":
            torch.cuda.empty_cache()
    return records


# ---- Main. ----


def environment(device):
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": device,
           "machine": platform.machine(), "threads": torch.get_num_threads()}
    for name in ("OMP_NUM_THREADS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        env[name] = os.environ.get(name)
    try:
        env["cpu"] = next(line.split(":", 1)[1].strip()
                          for line in Path("/proc/cpuinfo").read_text().splitlines()
                          if line.startswith("model name"))
    except (OSError, StopIteration):
        env["cpu"] = platform.processor()
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
        env["cuda"] = torch.version.cuda
    head = ROOT / ".git"
    env["commit"] = _git_head(head)
    return env


def _git_head(git):
    """The checked-out commit, read from the git files (the GPU machine may have no git)."""
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        common = git / "commondir"
        base = (git / common.read_text().strip()).resolve() if common.exists() else git
        for root in (git, base):
            if (root / ref).exists():
                return (root / ref).read_text().strip()
        for line in (base / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except (OSError, IndexError):
        pass
    return None


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--device", choices=["cpu", "cuda"],
                        default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true",
                        help="time one layer with 4 channels and 1 image (the default on the CPU)")
    parser.add_argument("--full", action="store_true",
                        help="time full-size layers on the CPU too (slow)")
    parser.add_argument("--reps", type=int, default=None,
                        help="timed runs per figure (default 10 on CUDA, 2 on the CPU)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget-s", type=float, default=None,
                        help="time no further layer once this many seconds have passed since the "
                             "start (default 360 on CUDA, so that a GPU run ends within 8 minutes; "
                             "none on the CPU)")
    default_out = (Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "target")
    parser.add_argument("--out", type=Path, default=default_out / "gpu-kernels.json")
    parser.add_argument("--build-dir", help="where to compile (default target/kernel-ext)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.exit(2, "gpu-kernel-check: --device cuda, but torch sees no CUDA device\n")
    if args.device == "cpu" and not args.full:
        args.quick = True
    if args.budget_s is None:
        args.budget_s = 360.0 if args.device == "cuda" else math.inf
    if args.reps is None:
        args.reps = 10 if args.device == "cuda" else 2
    return args


def main():
    args = parse_args()
    started = time.monotonic()
    log(f"gpu-kernel-check: torch {torch.__version__}, device {args.device}, "
        f"{'quick' if args.quick else 'full-size layers'}")
    try:
        library = kernel_ext.load(args.device, args.build_dir, log=log)
    except kernel_ext.BuildError as error:
        log(f"gpu-kernel-check: the kernels do not build: {error}")
        return 3
    build_s = time.monotonic() - started
    if args.device == "cuda" and not torch.ops.kimg.cuda_launchers():
        log("gpu-kernel-check: the library has no CUDA launchers")
        return 3
    configs = json.loads(LAYERS.read_text())["configs"]
    log("checks (fused vs the float64 composition of plain torch ops):")
    checks = run_checks(args.device, configs, args.seed)
    checks_s = time.monotonic() - started - build_s
    log("timings (filtered_lrelu of a layer; composed: plain torch ops, fused: kimg's bias_act and "
        "upfirdn2d kernels, fused_kernel: its filtered_lrelu kernel):")
    timings = run_timings(args.device, configs, args, torch.Generator().manual_seed(args.seed),
                          started)
    failed = [c for c in checks if not c["passed"]]
    figures = {
        "environment": environment(args.device),
        "library": str(library),
        "quick": args.quick,
        "reps": args.reps,
        "seconds": {"build": build_s, "checks": checks_s,
                    "timings": time.monotonic() - started - build_s - checks_s},
        "passed": not failed,
        "checks": checks,
        "timings": timings,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(json.dumps(figures, indent=1) + "\n")
    partial.replace(args.out)
    log(f"gpu-kernel-check: {len(checks) - len(failed)}/{len(checks)} checks passed, "
        f"{len(timings)} layers timed, {time.monotonic() - started:.0f} s; figures in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
