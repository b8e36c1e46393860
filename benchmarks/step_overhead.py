"""What one shared-weight training step costs besides its arithmetic: ops dispatched and time.

On a GPU the enas-micro supernet is bound by kernel launches, not arithmetic (docs/results.md
4.2): each step is a couple of thousand small ops, and the card finishes each before Python has
issued the next. This measures that cost on any machine, the CPU included:

- **ops per step**: the top-level aten ops of one step (forward, backward and the optimizer's
  update, as ``nao ws`` builds it: ``pipelines.training.runtime.sgd``, Nesterov momentum and
  weight decay), counted with ``torch.profiler``; those that are not views are the kernels a GPU
  launches.
- **ms per step** on a batch of 2 images of 8x8, where the arithmetic is negligible and what is
  left is Python, dispatch and autograd, the work a GPU step waits on.

Each step runs a new random child (``--fixed``: the same child every step). ``--gpu-ops`` runs
the ops a GPU runs where they differ from the CPU's (the average pool as torch's kernel), so
that the count is what a GPU step launches (before autocast's casts).

    python benchmarks/step_overhead.py --json
    python benchmarks/step_overhead.py --gpu-ops --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import numpy as np
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from pipelines.training.runtime import sgd
from search_spaces.cnn_ops import AvgPool
from search_spaces.enas_micro import EnasMicroSpace

CHANNELS = 16
LAYERS = 2
CLASSES = 10
BATCH = 2
SIZE = 8
STEPS = 50
WARMUP = 5
PROFILED = 5
# ops that launch no kernel on any device: views, metadata, uninitialised allocations
VIEWS = frozenset({"aten::narrow", "aten::slice", "aten::detach", "aten::unsqueeze",
                   "aten::squeeze", "aten::t", "aten::view", "aten::reshape", "aten::flatten",
                   "aten::as_strided", "aten::expand", "aten::permute", "aten::transpose",
                   "aten::alias", "aten::select", "aten::chunk", "aten::split", "aten::unbind",
                   "aten::contiguous", "aten::_unsafe_view", "aten::lift_fresh",
                   "aten::empty", "aten::empty_like", "aten::result_type"})


def top_level_ops(events) -> Counter:
    """aten ops not called from inside another aten op (a call's own dispatch, once)."""
    ops: Counter = Counter()
    for e in events:
        parent = e.cpu_parent
        if e.name.startswith("aten::") and (parent is None
                                            or not parent.name.startswith("aten::")):
            ops[e.name] += 1
    return ops


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS, help=f"timed steps ({STEPS})")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    parser.add_argument("--fixed", action="store_true", help="the same child every step")
    parser.add_argument("--gpu-ops", action="store_true",
                        help="the GPU's choice of ops (the average pool as torch's kernel)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    space = EnasMicroSpace()
    rng = np.random.default_rng(args.seed)
    n = WARMUP + args.steps + PROFILED
    archs = [space.sample(rng) for _ in range(n)]
    if args.fixed:
        archs = archs[:1] * n
    supernet = space.build_supernet(CHANNELS, CLASSES, LAYERS, 1).train()
    if args.gpu_ops:
        for module in supernet.modules():
            if isinstance(module, AvgPool):
                module.box_sum = False
    optimizer = sgd(supernet.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                    weight_decay=3e-4)
    x = torch.randn(BATCH, 1, SIZE, SIZE)
    y = torch.randint(CLASSES, (BATCH,))

    def step(arch) -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(supernet(x, arch), y).backward()
        optimizer.step()

    for arch in archs[:WARMUP]:
        step(arch)
    start = time.perf_counter()
    for arch in archs[WARMUP:WARMUP + args.steps]:
        step(arch)
    ms = (time.perf_counter() - start) / args.steps * 1000
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for arch in archs[WARMUP + args.steps:]:
            step(arch)
    ops = top_level_ops(prof.events())
    kernels = Counter({k: v for k, v in ops.items() if k not in VIEWS})
    result = {
        "config": {"channels": CHANNELS, "layers": LAYERS, "batch": BATCH,
                   "image": [1, SIZE, SIZE], "steps": args.steps, "fixed": args.fixed, "gpu_ops": args.gpu_ops,
                   "threads": torch.get_num_threads(), "torch": torch.__version__},
        "ms_per_step": round(ms, 2),
        "ops_per_step": round(sum(ops.values()) / PROFILED, 1),
        "kernel_ops_per_step": round(sum(kernels.values()) / PROFILED, 1),
        "top_kernel_ops": {k: round(v / PROFILED, 1) for k, v in kernels.most_common(12)},
    }
    print(f"{result['ms_per_step']} ms/step, {result['ops_per_step']} ops/step, "
          f"{result['kernel_ops_per_step']} not views", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
