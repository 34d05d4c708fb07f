#!/usr/bin/env python3
"""Training speed of kimg and the official StyleGAN3 code on the CPU, side by side.

Trains each configuration with the official `train.py` (through the CPU runner of
`../shared/tools/official-cpu/`, which runs an unmodified checkout on the CPU) and with
`kimg train`, using the same flags, alternating the two programs, `--reps` times each, and reports
per run the s/kimg of tick 1 as both tick lines print it (wall) and as **CPU seconds per kimg**
of the same interval (process and its children, sampled from /proc ten times a second). On a
machine shared with other work, one OpenMP thread and CPU seconds are what measure the programs;
wall seconds measure the load as well — and not equally: the kernel's scheduler favours a program
whose work alternates between threads that sleep in turn (the official process's main thread hands
about a third of its tensor work to a second thread and waits) over one that keeps a single thread
busy (kimg), so on a loaded machine the
official code's wall time stretches less. `--fifo` (root) runs both programs ahead of the other
load, which makes wall time track the work again.

The configurations are those of BENCHMARKS.md: Fashion-MNIST at 32x32 for StyleGAN2, 16x16 for
StyleGAN3, tiny channel counts. `--isa avx2` lowers an AVX-512 CPU to AVX2 for both programs
(`ONEDNN_MAX_CPU_ISA=AVX2`, `ATEN_CPU_CAPABILITY=avx2`), which is what an AVX2-only CPU such as an
AMD EPYC of family 23 runs.

No official code is part of kimg: the checkout and the runner are passed in by path.

Example (the BENCHMARKS.md figures):

    scripts/side-by-side.py --kimg target/debug/kimg --runner ../shared/tools/official-cpu/run_official_train_cpu.py \
        --checkout /work/scratch/stylegan3 --site /work/scratch/site --isa avx2 --reps 3 --out sbs-avx2.json
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CONFIGS = {
    "stylegan2": ["--cfg=stylegan2", "--data={fm32}", "--batch=32", "--cbase=2048", "--cmax=32"],
    "stylegan3-t": ["--cfg=stylegan3-t", "--data={fm16}", "--batch=16", "--cbase=1024", "--cmax=16"],
    "stylegan3-r": ["--cfg=stylegan3-r", "--data={fm16}", "--batch=16", "--cbase=256", "--cmax=4"],
}
COMMON = ["--map-depth=2", "--gpus=1", "--gamma=0.1", "--mbstd-group=4", "--aug=noaug",
          "--metrics=none", "--tick=1", "--snap=1000", "--kimg=1", "--workers=1"]
TICK = re.compile(r"^tick (\d+)\s.*?sec/tick\s+([0-9.]+)\s+sec/kimg\s+([0-9.]+)")
CLOCK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root):
    """User+system CPU seconds of `root` and its live descendants (and their reaped children)."""
    parents, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        cpu[pid] = sum(int(v) for v in fields[11:15]) / CLOCK
    total = 0.0
    for pid, seconds in cpu.items():
        p = pid
        while p > 1 and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += seconds
    return total


def main_thread_schedstat(pid):
    """(on-CPU, runnable-but-waiting) seconds of the process's main thread, from schedstat."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            run_ns, wait_ns, _ = (int(v) for v in f.read().split())
    except (OSError, ValueError):
        return (0.0, 0.0)
    return (run_ns / 1e9, wait_ns / 1e9)


def run_once(command, env):
    """Runs one training; returns tick-1 wall s/kimg, CPU s/kimg, peak RSS (GB) and the log."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    samples = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append((time.monotonic(), tree_cpu_seconds(proc.pid),
                            main_thread_schedstat(proc.pid)))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log, tick1 = [], None
    for line in proc.stdout:
        log.append(line)
        m = TICK.match(line)
        if m and int(m.group(1)) == 1:
            end = time.monotonic()
            samples.append((end, tree_cpu_seconds(proc.pid), main_thread_schedstat(proc.pid)))
            tick1 = (end, float(m.group(2)), float(m.group(3)))
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    if tick1 is None or status != 0:
        return {"error": f"exit status {status}", "log_tail": "".join(log[-15:])}
    end, sec_tick, sec_kimg = tick1
    start = end - sec_tick
    before = [s for s in samples if s[0] <= start] or samples[:1]
    first, last = before[-1], [s for s in samples if s[0] <= end][-1]
    kimg = sec_tick / sec_kimg
    span = last[0] - first[0]
    run, queued = (last[2][i] - first[2][i] for i in range(2))
    # The main thread's time neither on a CPU nor waiting for one: blocked (I/O, locks, the
    # loader). Unlike waiting for a CPU, this is the program's own and shows on an idle machine.
    blocked = max(span - run - queued, 0.0)
    return {"wall_s_per_kimg": sec_kimg, "cpu_s_per_kimg": (last[1] - first[1]) / kimg,
            "main_blocked_s_per_kimg": blocked / kimg, "main_queued_s_per_kimg": queued / kimg,
            "peak_rss_gb": usage.ru_maxrss / 1e6}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kimg", required=True, help="the kimg binary")
    parser.add_argument("--runner", required=True, help="run_official_train_cpu.py")
    parser.add_argument("--checkout", required=True, help="a NVlabs/stylegan3 checkout")
    parser.add_argument("--python", default=sys.executable, help="Python with torch 2.13")
    parser.add_argument("--site", default="", help="PYTHONPATH folder with numpy, scipy, …")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--idx", default=f"{repo}/data/fashion-mnist/train-images-idx3-ubyte.gz",
                        help="Fashion-MNIST images (idx3 gzip), the bundled ones by default")
    parser.add_argument("--cfgs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--isa", choices=["native", "avx2"], default="native")
    parser.add_argument("--fifo", action="store_true",
                        help="run both programs under SCHED_FIFO (chrt -f 1, needs root), so "
                             "other load on a shared machine does not stretch their wall time")
    parser.add_argument("--out", help="write every run's figures as JSON here")
    args = parser.parse_args()

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OMP_WAIT_POLICY="PASSIVE",
               KIMG_NO_PROGRESS="1")
    if args.isa == "avx2":
        env.update(ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")
    # The runner's own default is torch.set_num_threads(2) whatever OMP_NUM_THREADS says
    # (REF_THREADS): give the official code the same thread count as kimg.
    official_env = dict(env, PYTHONPATH=args.site, PYTHONUNBUFFERED="1",
                        REF_THREADS=str(args.threads))
    prefix = ["chrt", "-f", "1"] if args.fifo else []
    results = {"cpu": cpu_model(), "isa": args.isa, "threads": args.threads, "fifo": args.fifo,
               "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = {"fm32": f"{tmp}/fm32.zip", "fm16": f"{tmp}/fm16.zip"}
        for name, res in (("fm32", 32), ("fm16", 16)):
            subprocess.run([args.kimg, "dataset", "create", "--source", args.idx, "--dest",
                            data[name], "--resolution", str(res), "--max-images", "5000"],
                           check=True, capture_output=True)
        for cfg in args.cfgs:
            flags = [f.format(**data) for f in CONFIGS[cfg]] + COMMON
            runs = results["runs"].setdefault(cfg, {"official": [], "kimg": []})
            for rep in range(args.reps):
                order = ["official", "kimg"] if rep % 2 == 0 else ["kimg", "official"]
                for program in order:
                    out = f"{tmp}/{program}-{cfg}-{rep}"
                    if program == "official":
                        cmd = prefix + [args.python, args.runner, "--repo", args.checkout, "--",
                               f"--outdir={out}"] + flags
                        figures = run_once(cmd, official_env)
                    else:
                        cmd = prefix + [args.kimg, "train", "--device=cpu", f"--outdir={out}"] + flags
                        figures = run_once(cmd, env)
                    runs[program].append(figures)
                    print(f"{cfg} {program} run {rep + 1}: {json.dumps(figures)}", flush=True)
            summarise(cfg, runs)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


def summarise(cfg, runs):
    """Prints the medians and the kimg/official ratios of one configuration."""
    med = {}
    for program, figures in runs.items():
        good = [f for f in figures if "error" not in f]
        if not good:
            print(f"{cfg}: {program} unmeasured")
            return
        med[program] = {k: statistics.median(f[k] for f in good) for k in good[0]}
    o, k = med["official"], med["kimg"]
    print(f"{cfg}: median CPU s/kimg official {o['cpu_s_per_kimg']:.1f}, kimg "
          f"{k['cpu_s_per_kimg']:.1f}, ratio {k['cpu_s_per_kimg'] / o['cpu_s_per_kimg']:.2f}; "
          f"wall s/kimg {o['wall_s_per_kimg']:.1f} vs {k['wall_s_per_kimg']:.1f}, ratio "
          f"{k['wall_s_per_kimg'] / o['wall_s_per_kimg']:.2f}; peak RSS ratio "
          f"{k['peak_rss_gb'] / o['peak_rss_gb']:.2f}", flush=True)


def cpu_model():
    """The CPU's model name and family/model numbers, from /proc/cpuinfo."""
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    return f"{info.get('model name')} (family {info.get('cpu family')} model {info.get('model')})"


if __name__ == "__main__":
    main()
