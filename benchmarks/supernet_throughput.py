"""Training throughput of the enas-micro supernet against plain PyTorch networks.

Each step is forward + backward + SGD step on one batch. The supernet runs a new random child
every step (as weight-sharing search does) and, separately, the same child every step; that child
is also built on its own (``ChildNetwork``), and a plain conv-BN-ReLU CNN is sized to the average
child's parameter count (timed in the default and the channels-last layout, which the cell
networks use). child / supernet_fixed is the cost of running a child through the shared supernet;
plain / supernet adds the cost of the cell structure (many small depthwise convs) and of changing
the child every step.

    python benchmarks/supernet_throughput.py --steps 20
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from nao.estimator import resolve_device
from pipelines.training.runtime import sgd
from search_spaces.enas_micro import EnasMicroSpace

CHANNELS = 16
LAYERS = 2
BATCH = 64
IMAGE = (1, 28, 28)  # Fashion-MNIST sized
CLASSES = 10
STEPS = 20
WARMUP = 3
LR = 0.05
PARAM_SAMPLE = 20  # children averaged for the plain CNN's target size
MAX_PLAIN_WIDTH = 512


def plain_cnn(width: int, in_channels: int, num_classes: int, per_stage: int,
              first_stride: int = 1) -> nn.Sequential:
    """conv3x3-BN-ReLU blocks in three stages, channels doubling and stride 2 between them;
    ``first_stride`` is the first convolution's (the cell networks' stem stride)."""
    layers: list[nn.Module] = []
    c_in, c = in_channels, width
    for stage in range(3):
        for block in range(per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            if stage == 0 and block == 0:
                stride = first_stride
            layers += [nn.Conv2d(c_in, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        c *= 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matching_plain_cnn(target: int, per_stage: int, first_stride: int = 1) -> nn.Sequential:
    """The plain CNN whose parameter count is closest to ``target`` (bisection on the width,
    since the count grows with it)."""
    def size(width: int) -> int:
        return count(plain_cnn(width, IMAGE[0], CLASSES, per_stage))

    low, high = 1, MAX_PLAIN_WIDTH
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if size(mid) < target else (low, mid)
    best = min((low, high), key=lambda w: abs(size(w) - target))
    return plain_cnn(best, IMAGE[0], CLASSES, per_stage, first_stride)


AMP = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def images_per_second(model: nn.Module, step_input: Callable[[int], tuple], steps: int,
                      warmup: int, batch: int, device: torch.device,
                      amp: torch.dtype | None = None) -> float:
    """Mean training throughput over ``steps`` steps after ``warmup`` untimed ones; ``amp``: the
    forward and loss under ``torch.autocast`` to that dtype (the weights stay float32)."""
    model.to(device).train()
    opt = sgd(model.parameters(), lr=LR, momentum=0.9)  # as the searches build it
    x = torch.randn(batch, *IMAGE, device=device)
    y = torch.randint(CLASSES, (batch,), device=device)
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = nn.functional.cross_entropy(model(x, *step_input(step)), y)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=CHANNELS)
    parser.add_argument("--layers", type=int, default=LAYERS, help="normal cells per stage")
    parser.add_argument("--stem-stride", type=int, choices=(1, 2), default=1,
                        help="stride of the stem (and of the plain CNN's first convolution)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the machine is shared)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amp", choices=tuple(AMP), default="off",
                        help="autocast the forward to float16 or bfloat16 (default off)")
    parser.add_argument("--only", default=None,
                        help="comma-separated networks to time (default all: supernet, "
                             "supernet_fixed, child, plain_cnn, plain_cnn_channels_last)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    space = EnasMicroSpace()
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.warmup + args.steps)]
    config = (args.channels, CLASSES, args.layers, IMAGE[0])

    stride = args.stem_stride
    supernet = space.build_supernet(*config, stem_stride=stride)
    child = space.build(archs[0], *config, stem_stride=stride)
    child_params = int(np.mean([count(space.build(space.sample(rng), *config))
                                for _ in range(PARAM_SAMPLE)]))
    plain = matching_plain_cnn(child_params, per_stage=args.layers + 1, first_stride=stride)
    plain_cl = copy.deepcopy(plain).to(memory_format=torch.channels_last)  # the cells' layout

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"device {device}, {torch.get_num_threads()} thread(s), batch {args.batch}, "
        f"{args.steps} timed steps")
    result = {
        "config": {"channels": args.channels, "layers": args.layers, "stem_stride": stride,
                   "batch": args.batch, "amp": args.amp,
                   "image": list(IMAGE), "steps": args.steps, "device": str(device),
                   "threads": torch.get_num_threads()},
        "params": {"supernet": count(supernet), "child_mean": child_params,
                   "plain_cnn": count(plain)},
    }
    rates = {}
    for name, model, step_input in (
        ("supernet", supernet, lambda s: (archs[s],)),
        ("supernet_fixed", supernet, lambda s: (archs[0],)),
        ("child", child, lambda s: ()),
        ("plain_cnn", plain, lambda s: ()),
        ("plain_cnn_channels_last", plain_cl, lambda s: ()),
    ):
        if args.only is not None and name not in args.only.split(","):
            continue
        rates[name] = images_per_second(model, step_input, args.steps, args.warmup,
                                        args.batch, device, AMP[args.amp])
        n_params = count(model) if name != "supernet" else count(supernet)
        log(f"{name:24s} {n_params:>9,d} params  "
            f"{rates[name]:8.1f} images/s")
    result["images_per_second"] = {k: round(v, 1) for k, v in rates.items()}
    if len(rates) < 5:  # a selection: no overhead ratios
        if args.json:
            print(json.dumps(result))
        return result
    fastest_plain = max(rates["plain_cnn"], rates["plain_cnn_channels_last"])
    result["overhead"] = {
        "plain_over_supernet": round(fastest_plain / rates["supernet"], 2),
        "child_over_supernet_fixed": round(rates["child"] / rates["supernet_fixed"], 2),
    }
    log(f"plain CNN (faster layout) / supernet: {result['overhead']['plain_over_supernet']}x; "
        f"child alone / supernet on the same child: "
        f"{result['overhead']['child_over_supernet_fixed']}x")
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
