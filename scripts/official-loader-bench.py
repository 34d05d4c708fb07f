#!/usr/bin/env python3
"""The official StyleGAN3 data loader on the zip of `cargo bench --bench loader`, for BENCHMARKS.md.

    PYTHONPATH=SITE python scripts/official-loader-bench.py --repo CHECKOUT ZIP

Loads the official `training.dataset.ImageFolderDataset` and `torch_utils.misc.InfiniteSampler`
from a checkout of NVlabs/stylegan3 (nothing of it is copied here) and reads them through
`torch.utils.data.DataLoader` as its training loop does (`train.py`'s defaults: 3 spawned workers,
prefetch factor 2, no labels, no x-flips; `pin_memory` off, as it is on the CPU), with the batch
of kimg's bench (32). After one warm-up batch it times as many batches as fill one pass over the
zip and prints a Markdown row in the columns of `benches/loader.rs`: images/s wall and images per
CPU second, CPU being the process and its worker processes (user + system, from psutil). SITE
holds numpy, pillow and psutil, and pyspng if the PNGs are to be decoded as the official
environment does (without it the dataset falls back to Pillow); the row names the decoder used.
"""

import argparse
import os
import sys
import time


def compat_sampler(torch):
    """`Sampler.__init__` no longer takes the data source that `InfiniteSampler` passes to it."""
    original = torch.utils.data.Sampler.__init__

    def init(self, *args, **kwargs):
        try:
            original(self, *args, **kwargs)
        except TypeError:
            original(self)

    torch.utils.data.Sampler.__init__ = init


def cpu_seconds(process):
    """User + system seconds of `process` and its live children."""
    total = 0.0
    for p in [process] + process.children(recursive=True):
        try:
            times = p.cpu_times()
        except Exception:  # a worker that exited between listing and reading
            continue
        total += times.user + times.system
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('zip', help='the zip of target/bench-data/')
    parser.add_argument('--repo', required=True, help='a checkout of NVlabs/stylegan3')
    parser.add_argument('--workers', type=int, default=3)
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--prefetch', type=int, default=2)
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.repo))
    import psutil
    import torch
    compat_sampler(torch)
    # As `train.py` sets it: spawned workers unpickle the dataset without its open zip file (forked
    # ones would share one file offset and read corrupt entries).
    torch.multiprocessing.set_start_method('spawn')
    from torch_utils import misc
    from training import dataset as official

    data = official.ImageFolderDataset(path=args.zip, use_labels=False, max_size=None, xflip=False)
    sampler = misc.InfiniteSampler(dataset=data, rank=0, num_replicas=1, seed=0)
    loader = iter(torch.utils.data.DataLoader(
        dataset=data, sampler=sampler, batch_size=args.batch, pin_memory=False,
        prefetch_factor=args.prefetch, num_workers=args.workers))
    next(loader)  # warm-up: workers started, first batches prefetched
    batches = len(data) // args.batch
    me = psutil.Process()
    cpu, start = cpu_seconds(me), time.perf_counter()
    for _ in range(batches):
        images, _labels = next(loader)
        assert images.shape[0] == args.batch
    wall, cpu = time.perf_counter() - start, cpu_seconds(me) - cpu
    n = batches * args.batch
    decoder = 'pyspng' if official.pyspng is not None else 'Pillow'
    kib = os.path.getsize(args.zip) / len(data) / 1024
    print('| loader | images | PNG KiB each | images/s (wall) | images per CPU s | CPU s |')
    print('|---|---|---|---|---|---|')
    print(f'| official ({decoder}), {len(data)} × {data.resolution}² zip, {args.workers} workers, '
          f'batch {args.batch} | {n} | {kib:.0f} | {n / wall:.0f} | {n / cpu:.0f} | {cpu:.2f} |')


if __name__ == '__main__':
    main()
