#!/usr/bin/env python3
"""Build kimg's fused kernels (kernels/) as a PyTorch operator library with the torch in use.

Usage: python3 scripts/kernel_ext.py [--device cpu|cuda] [--build-dir DIR]   (prints the library)
       import kernel_ext; kernel_ext.load("cuda")                 (then torch.ops.kimg.*)

Compiles what build.rs compiles -- kernels/*.cpp (the C interface api.cpp and the CPU launchers)
and, for CUDA, kernels/*.cu with -DKIMG_CUDA -- plus kernels/python/torch_ops.cpp, which registers
the C interface as `torch.ops.kimg.*`, with the same flags as build.rs, against the headers and
libraries of the running torch. It calls the compilers itself (c++ or $CXX; nvcc from $NVCC, else
$CUDA_HOME/bin, else PATH, else torch's CUDA_HOME) instead of torch.utils.cpp_extension.load, so
it needs neither ninja nor setuptools nor Python's headers: a machine with torch and a compiler
builds it. CUDA architectures: $KIMG_CUDA_ARCHS (as build.rs, e.g. "90"), else the current GPU's.

Objects and library land in <build-dir>/<device>/ (default target/kernel-ext under the
repository), named by the hash of what they are made of (sources, headers, flags, compilers, torch
version), so only what changed is compiled again.
"""

import argparse
import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "kernels"
BINDING = KERNELS / "python" / "torch_ops.cpp"


class BuildError(RuntimeError):
    """A compiler failed or is missing; the message holds its command and output."""


def _torch_dir():
    return Path(torch.__file__).resolve().parent


def _nvcc():
    """The nvcc to use, or a BuildError saying where it was looked for."""
    candidates = [os.environ.get("NVCC")]
    for home in (os.environ.get("CUDA_HOME"), _torch_cuda_home()):
        if home:
            candidates.append(str(Path(home) / "bin" / "nvcc"))
    candidates.append(shutil.which("nvcc"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise BuildError("no nvcc: set NVCC or CUDA_HOME, or put nvcc on PATH")


def _torch_cuda_home():
    from torch.utils import cpp_extension  # noqa: PLC0415 (imported only when CUDA is built)

    return cpp_extension.CUDA_HOME


def _cudart(toolkit):
    """The CUDA runtime to link: the toolkit's `libcudart.so`, else (PyPI's nvcc beside torch,
    which ships only the versioned name) its `libcudart.so.<major>`."""
    for lib in (toolkit / "lib64", toolkit / "lib"):
        for path in [lib / "libcudart.so", *sorted(lib.glob("libcudart.so.*"))]:
            if path.is_file():
                return path
    raise BuildError(f"no libcudart.so under {toolkit}/lib64 or {toolkit}/lib")


def _cuda_archs():
    archs = os.environ.get("KIMG_CUDA_ARCHS")
    if archs:
        return [a.strip() for a in archs.split(";") if a.strip()]
    major, minor = torch.cuda.get_device_capability()
    return [f"{major}{minor}"]


class _Plan:
    """The commands of one build: objects from sources, then the shared library."""

    def __init__(self, device):
        self.cuda = device == "cuda"
        torch_dir = _torch_dir()
        self.lib_dir = torch_dir / "lib"
        headers = [torch_dir / "include", torch_dir / "include/torch/csrc/api/include"]
        self.cxx = os.environ.get("CXX", "c++")
        abi = int(torch.compiled_with_cxx11_abi())
        common = ["-O3", f"-D_GLIBCXX_USE_CXX11_ABI={abi}"] + (["-DKIMG_CUDA"] if self.cuda else [])
        for header in headers:
            common += ["-isystem", str(header)]
        # As build.rs: C++20 for the C++ files, C++17 for nvcc.
        self.cxx_flags = ["-std=c++20", "-fPIC", "-Wextra", *common]
        self.sources = sorted(KERNELS.glob("*.cpp")) + [BINDING]
        self.link = ["-shared", f"-L{self.lib_dir}", f"-Wl,-rpath,{self.lib_dir}",
                     "-lc10", "-ltorch_cpu", "-ltorch"]
        self.cu_sources = []
        if self.cuda:
            self.nvcc = _nvcc()
            toolkit = self.nvcc.parent.parent
            archs = _cuda_archs()
            # The toolkit's headers, then those of PyPI's CUDA packages that torch brings
            # (cuBLAS, cuSPARSE... which ATen's CUDA headers include), as build.rs.
            pypi = sorted((torch_dir.parent / "nvidia").glob("*/include"))
            self.cu_flags = ["-std=c++17", "-Xcompiler", "-fPIC", f"-I{toolkit / 'include'}",
                             *[f"-I{p}" for p in pypi], *common]
            self.cu_flags += [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
            self.cu_flags.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
            self.cu_sources = sorted(KERNELS.glob("*.cu"))
            cudart = _cudart(toolkit)
            self.link += ["-lc10_cuda", "-ltorch_cuda", str(cudart), f"-Wl,-rpath,{cudart.parent}"]

    def commands(self, out_dir):
        """`(object, command)` for every source; an object's name holds the hash of its source,
        the headers, the compiler, its flags and the torch version."""
        headers = b"".join(p.read_bytes() for p in sorted(KERNELS.glob("*.h")))
        jobs = []
        compilers = [(s, [self.cxx, *self.cxx_flags]) for s in self.sources]
        if self.cuda:
            compilers += [(s, [str(self.nvcc), *self.cu_flags]) for s in self.cu_sources]
        for source, compiler in compilers:
            digest = hashlib.sha256(source.read_bytes() + headers)
            digest.update("\0".join([*compiler, torch.__version__]).encode())
            obj = out_dir / f"{source.name}.{digest.hexdigest()[:16]}.o"
            jobs.append((obj, [*compiler, "-c", str(source), "-o", str(obj)]))
        return jobs


def _run(command, target, log):
    """Run a compiler writing `target`, through a temporary name of its own so that a failed or
    killed run leaves no half-written file to be taken as built, and two builds at once (two test
    processes) do not write the same file."""
    started = time.monotonic()
    partial = Path(f"{target}.{os.getpid()}.{threading.get_ident()}.partial")
    command = [str(partial) if part == str(target) else part for part in command]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"{' '.join(command)}\nexit {done.returncode}\n{done.stdout}{done.stderr}")
    partial.replace(target)
    log(f"  {Path(target).name}: {time.monotonic() - started:.1f} s")


def build(device="cpu", build_dir=None, log=print):
    """Compile the library for `device` ("cpu" or "cuda") unless it is built; return its path."""
    plan = _Plan(device)
    out_dir = (Path(build_dir) if build_dir else ROOT / "target" / "kernel-ext") / device
    jobs = plan.commands(out_dir)
    objects = [str(obj) for obj, _ in jobs]
    key = hashlib.sha256("\0".join([*objects, *plan.link]).encode()).hexdigest()[:16]
    library = out_dir / f"libkimg_torch_ops-{key}.so"
    if library.exists():
        log(f"kernels: {library} (built before)")
        return library
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"kernels: compiling the {device} build into {out_dir}")
    todo = [(obj, cmd) for obj, cmd in jobs if not obj.exists()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for future in [pool.submit(_run, cmd, obj, log) for obj, cmd in todo]:
            future.result()
    _run([plan.cxx, *objects, *plan.link, "-o", str(library)], library, log)
    log(f"kernels: built in {time.monotonic() - started:.1f} s")
    return library


def load(device="cpu", build_dir=None, log=print):
    """Build (if needed) and load the library, so that `torch.ops.kimg.*` exist; return its path."""
    library = build(device, build_dir, log)
    torch.ops.load_library(str(library))
    return library


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--build-dir", help="default: target/kernel-ext in the repository")
    args = parser.parse_args()
    try:
        print(load(args.device, args.build_dir, log=lambda m: print(m, file=sys.stderr)))
    except BuildError as error:
        sys.exit(f"kernel_ext: {error}")


if __name__ == "__main__":
    main()
