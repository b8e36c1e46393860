"""What the CPU offers a shared-weight training step: each op of an enas-micro cell in the two
memory layouts, and the supernet's images/s against the batch size.

The cell networks run channels-last (``search_spaces/enas_micro_net.py::CHANNELS_LAST``). This
prints, for the ops a cell spends its time in (depthwise 3x3 / 5x5 and pointwise convolutions,
BatchNorm in training mode, 3x3 max pooling), forward + backward milliseconds in the default
(``cf``) and channels-last (``cl``) layouts at the first two stages' sizes, then a supernet step
(a random child per step, as the search trains) at batch sizes 32-256. One torch thread count
for all (``--threads``); medians of ``--repeats`` timings.

    python benchmarks/cpu_levers.py --threads 2 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.enas_micro import EnasMicroSpace

BATCH = 64
SIZES = ((16, 28), (32, 14))  # (channels, height = width) of the first two stages
BATCHES = (32, 64, 128, 256)


def fwd_bwd_ms(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, steps: int,
               repeats: int) -> float:
    """Median milliseconds of ``fn(x).sum().backward()``."""
    for _ in range(2):
        fn(x).sum().backward()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn(x).sum().backward()
        times.append((time.perf_counter() - start) / steps * 1000)
    return statistics.median(times)


def op_table(steps: int, repeats: int) -> list[dict]:
    rows = []
    for channels, size in SIZES:
        base = torch.randn(BATCH, channels, size, size)
        weights = {"dw3": torch.randn(channels, 1, 3, 3), "dw5": torch.randn(channels, 1, 5, 5),
                   "pw": torch.randn(channels, channels, 1, 1)}
        for layout in ("cf", "cl"):
            fmt = torch.contiguous_format if layout == "cf" else torch.channels_last
            x = base.contiguous(memory_format=fmt).requires_grad_(True)
            w = {k: v.contiguous(memory_format=fmt).requires_grad_(True)
                 for k, v in weights.items()}
            ops = {
                "depthwise 3x3": lambda t, w=w, c=channels: F.conv2d(t, w["dw3"], padding=1,
                                                                     groups=c),
                "depthwise 5x5": lambda t, w=w, c=channels: F.conv2d(t, w["dw5"], padding=2,
                                                                     groups=c),
                "pointwise 1x1": lambda t, w=w: F.conv2d(t, w["pw"]),
                "batch norm": lambda t: F.batch_norm(t, None, None, training=True),
                "max pool 3x3": lambda t: F.max_pool2d(t, 3, 1, 1),
            }
            for name, fn in ops.items():
                rows.append({"op": name, "channels": channels, "size": size, "layout": layout,
                             "ms": round(fwd_bwd_ms(fn, x, steps, repeats), 3)})
    return rows


def batch_table(steps: int, repeats: int) -> list[dict]:
    space = EnasMicroSpace()
    torch.manual_seed(0)
    supernet = space.build_supernet(16, 10, 2, 1)
    supernet.train()
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    rng = np.random.default_rng(0)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = nn.functional.cross_entropy(supernet(x, space.sample(rng)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    rows = []
    for batch in BATCHES:
        x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
        step(x, y)
        rates = []
        for _ in range(repeats):
            n = max(2, steps * BATCH // batch)
            start = time.perf_counter()
            for _ in range(n):
                step(x, y)
            rates.append(n * batch / (time.perf_counter() - start))
        rows.append({"batch": batch, "images_per_s": round(statistics.median(rates), 1)})
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="timed calls per repeat (10)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": args.threads,
           "ops": op_table(args.steps, args.repeats),
           "supernet": batch_table(args.steps, args.repeats)}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for row in out["ops"]:
            print(f"{row['op']:>14} {row['channels']:>3}x{row['size']:<3} {row['layout']} "
                  f"{row['ms']:8.2f} ms")
        for row in out["supernet"]:
            print(f"supernet batch {row['batch']:>4}: {row['images_per_s']:8.1f} images/s")
    return out


if __name__ == "__main__":
    main()
