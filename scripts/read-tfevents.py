#!/usr/bin/env python3
"""Print the scalars TensorBoard reads from a run directory's event files, as JSON.

Usage: .venv/bin/python scripts/read-tfevents.py RUN_DIR

Reads with TensorBoard's own event accumulator (PyPI's `tensorboard`, installed into the project
venv by `make setup-tensorboard`), so what it prints is what TensorBoard keeps after purging the
events a restarted job superseded: {"tag": [[step, value, wall_time], ...], ...}, each series in
the order TensorBoard holds it. Non-finite values are printed as the strings "nan", "inf" and
"-inf", which JSON cannot hold as numbers.
"""

import json
import math
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator
except ImportError as error:
    sys.exit(f"{error}: install TensorBoard into .venv with `make setup-tensorboard`")


def number(value):
    """A float as JSON holds it."""
    return value if math.isfinite(value) else str(value)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    # Size 0 keeps every event instead of a reservoir sample.
    accumulator = event_accumulator.EventAccumulator(
        sys.argv[1], size_guidance={event_accumulator.SCALARS: 0}
    )
    accumulator.Reload()
    scalars = {
        tag: [[e.step, number(e.value), e.wall_time] for e in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }
    json.dump(scalars, sys.stdout)


if __name__ == "__main__":
    main()
