"""What the CPU offers a shared-weight training step: each op of an enas-micro cell in the two
memory layouts, and the supernet's images/s against the batch size.

The cell networks run channels-last (``search_spaces/enas_micro_net.py::CHANNELS_LAST``). This
prints, for the ops a cell spends its time in (depthwise 3x3 / 5x5 and pointwise convolutions,
BatchNorm in training mode, 3x3 max pooling), forward + backward milliseconds in the default
(``cf``) and channels-last (``cl``) layouts at the first two stages' sizes, then a supernet step
(a random child per step, as the search trains) at batch sizes 32-256. One torch thread count
for all (``--threads``); medians of ``--repeats`` timings. ``--profile`` prints instead where a
supernet step's time goes, op by op (torch's profiler); ``--compile`` times the cell ops eager
against ``torch.compile``.

    python benchmarks/cpu_levers.py --threads 2 --json
    python benchmarks/cpu_levers.py --threads 1 --profile
    python benchmarks/cpu_levers.py --threads 1 --compile
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
COMPILED_OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3")


def fwd_bwd_ms(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, steps: int,
               repeats: int) -> float:
    """Median milliseconds of ``fn(x)`` and its backward from a dense gradient in the output's
    layout, as a network hands back (``sum()``'s broadcast gradient takes other, slower
    kernels: batch norm's channels-last backward 5x)."""
    grad = torch.randn_like(fn(x))
    for _ in range(2):
        fn(x).backward(grad)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn(x).backward(grad)
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


def compile_table(steps: int, repeats: int, ops: tuple[str, ...] = COMPILED_OPS) -> list[dict]:
    """The cell ops as the supernet runs them (channels-last, 16 channels, 28x28, training
    mode, a dense gradient), eager against ``torch.compile`` (inductor's C++ on the CPU), with
    the seconds the first compiled call took."""
    from search_spaces.cnn_ops import make_op

    rows = []
    for name in ops:
        torch.manual_seed(0)
        module = make_op(name, 16, False).to(memory_format=torch.channels_last).train()
        x = torch.randn(BATCH, 16, 28, 28).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        eager = fwd_bwd_ms(module, x, steps, repeats)
        compiled = torch.compile(module)
        start = time.perf_counter()
        compiled(x).backward(torch.randn_like(x))
        compile_s = time.perf_counter() - start
        rows.append({"op": name, "eager_ms": round(eager, 2),
                     "compiled_ms": round(fwd_bwd_ms(compiled, x, steps, repeats), 2),
                     "compile_s": round(compile_s, 1)})
    return rows


def step_profile(steps: int, top: int = 12) -> list[dict]:
    """Where a supernet step's time goes: the share of each aten op's own CPU time over
    ``steps`` steps (batch 64, a random child per step), largest first."""
    from torch.profiler import ProfilerActivity, profile

    space = EnasMicroSpace()
    torch.manual_seed(0)
    supernet = space.build_supernet(16, 10, 2, 1).train()
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x, y = torch.randn(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(supernet(x, space.sample(rng)), y).backward()
        optimizer.step()

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: -e.self_cpu_time_total)
    return [{"op": e.key, "share": round(e.self_cpu_time_total / total, 3),
             "calls_per_step": round(e.count / steps, 1)} for e in events[:top]]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="timed calls per repeat (10)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", action="store_true",
                   help="only the supernet step's time per aten op (its own CPU time's share)")
    p.add_argument("--compile", action="store_true",
                   help="only the cell ops eager against torch.compile (minutes: it compiles)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out: dict = {"torch": torch.__version__, "threads": args.threads}
    if args.compile:
        out["compile"] = compile_table(args.steps, args.repeats)
        lines = [f"{r['op']:>14}: eager {r['eager_ms']:7.2f} ms, compiled "
                 f"{r['compiled_ms']:7.2f} ms (first call {r['compile_s']} s)"
                 for r in out["compile"]]
    elif args.profile:
        out["profile"] = step_profile(args.steps)
        lines = [f"{r['op']:>42} {100 * r['share']:5.1f} %  {r['calls_per_step']:6.1f} calls "
                 "a step" for r in out["profile"]]
    else:
        out["ops"] = op_table(args.steps, args.repeats)
        out["supernet"] = batch_table(args.steps, args.repeats)
        lines = [f"{r['op']:>14} {r['channels']:>3}x{r['size']:<3} {r['layout']} "
                 f"{r['ms']:8.2f} ms" for r in out["ops"]]
        lines += [f"supernet batch {r['batch']:>4}: {r['images_per_s']:8.1f} images/s"
                  for r in out["supernet"]]
    print(json.dumps(out, indent=1) if args.json else "\n".join(lines))
    return out


if __name__ == "__main__":
    main()
