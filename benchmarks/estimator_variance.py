"""Variance of each relaxed method's alpha-gradient at one fixed point of the enas-micro supernet.

The point: shared weights after ``--warmup`` epochs of ENAS-style training on uniformly sampled
children (digits by default), a fixed alpha (seeded, N(0, ``--alpha-scale``) logits) and one
fixed validation minibatch, so the loss of an architecture is a fixed number and only the
estimators' own sampling varies. Each estimator draws ``--samples`` gradients there:

- ``sf``: REINFORCE with a constant baseline (the mean loss of ``--baseline-samples`` samples
  drawn first; the study's "SF with constant control variates");
- ``relax``: RELAX, its control variate first trained online for ``--relax-warmup`` steps at
  that point, then frozen;
- ``ram``: RAM marginalizing ``--ram-decisions`` decisions per sample (0: all 40);
- ``snas``: the Gumbel-softmax gradient at temperature ``--tau`` (biased; for reference).

Printed per estimator: the mean squared deviation of a sample from the estimator's mean
(trace of the covariance), the supernet forward passes per sample, that variance times the
passes (the variance at equal cost), and the squared distance of its mean from RAM's.
The study finds RAM < RELAX < SF.

    python benchmarks/estimator_variance.py --samples 200 --threads 1 [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from pipelines.oneshot.arch_params import ArchParams
from pipelines.oneshot.gradient_estimators import Ram, Relax, Snas, score_function_grad
from pipelines.oneshot.relaxed_search import SupernetObjective
from pipelines.oneshot.shared_training import SharedWeights, build_supernet
from pipelines.oneshot.weight_sharing import GRAD_CLIP, LR_MAX, LR_MIN, MOMENTUM, WEIGHT_DECAY
from pipelines.training.data import batches, load_data
from pipelines.training.network_options import NetworkOptions
from pipelines.training.runtime import Runtime
from pipelines.training.task import ImageClassification
from search_spaces import get_space
from search_spaces.enas_micro_relaxation import MicroRelaxation

NETWORK = NetworkOptions(channels=16, layers=1, stem_stride=1, batch_size=64)


class CountingObjective(SupernetObjective):
    """Counts the supernet passes an estimator asks for."""

    passes = 0

    def loss(self, index):
        self.passes += 1
        return super().loss(index)

    def relaxed_loss(self, weights):
        self.passes += 1
        return super().relaxed_loss(weights)


def fixed_point(args):
    space = get_space("enas-micro")
    data = load_data(args.data, seed=args.seed)
    task = ImageClassification(data)
    runtime = Runtime("cpu", args.threads)
    network = NetworkOptions(args.channels, NETWORK.layers, NETWORK.stem_stride,
                             NETWORK.batch_size)
    supernet = build_supernet(space, network, task, args.seed, runtime)
    shared = SharedWeights.sgd(supernet, task, runtime, epochs=max(1, args.warmup),
                               batch_size=NETWORK.batch_size, lr_max=LR_MAX, lr_min=LR_MIN,
                               momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, grad_clip=GRAD_CLIP,
                               seed=args.seed)
    params = ArchParams(space)
    rng = torch.Generator().manual_seed(args.seed)
    for _ in range(args.warmup):  # uniform children, as ENAS's first epochs
        shared.train_epoch(lambda: params.to_arch(params.sample(rng)))
    with torch.no_grad():
        params.alpha.normal_(0.0, args.alpha_scale, generator=rng)
    valid = next(iter(batches(data, data.valid, NETWORK.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(args.seed))))
    relaxation = MicroRelaxation(space, params)
    objective = CountingObjective(supernet, params, relaxation, task, runtime, valid)
    return params, objective


def sample(name: str, params, objective, args, gen) -> tuple[list[torch.Tensor], float]:
    """``args.samples`` gradients of estimator ``name`` and the passes per sample."""
    out = []
    if name == "sf":
        baseline = float(np.mean([objective.loss(params.sample(gen))
                                  for _ in range(args.baseline_samples)]))
        objective.passes = 0
        for _ in range(args.samples):
            index = params.sample(gen)
            out.append(score_function_grad(params, index, objective.loss(index), baseline))
    elif name == "relax":
        relax = Relax(seed=args.seed)
        for _ in range(args.relax_warmup):
            relax.gradient(params, objective, gen)
        relax.optimizer.param_groups[0]["lr"] = 0.0  # frozen from here
        objective.passes = 0
        for _ in range(args.samples):
            out.append(relax.gradient(params, objective, gen)[0])
    elif name == "ram":
        ram = Ram(decisions=args.ram_decisions)
        objective.passes = 0
        for _ in range(args.samples):
            out.append(ram.gradient(params, objective, gen)[0])
    elif name == "snas":
        snas = Snas(tau_max=args.tau, tau_min=args.tau)
        objective.passes = 0
        for _ in range(args.snas_samples):
            out.append(snas.gradient(params, objective, gen)[0].detach())
    return out, objective.passes / max(1, len(out))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="digits")
    p.add_argument("--estimators", default="sf,relax,ram,snas")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--snas-samples", type=int, default=50)
    p.add_argument("--warmup", type=int, default=3, help="epochs of weight training first")
    p.add_argument("--alpha-scale", type=float, default=0.5)
    p.add_argument("--baseline-samples", type=int, default=20)
    p.add_argument("--relax-warmup", type=int, default=100)
    p.add_argument("--ram-decisions", type=int, default=4)
    p.add_argument("--tau", type=float, default=1.0)
    p.add_argument("--channels", type=int, default=NETWORK.channels,
                   help="supernet channels (nao ws's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    started = time.perf_counter()
    params, objective = fixed_point(args)
    gen = torch.Generator().manual_seed(args.seed + 1)
    rows = {}
    for name in args.estimators.split(","):
        tick = time.perf_counter()
        grads, passes = sample(name, params, objective, args, gen)
        stacked = torch.stack(grads)
        mean = stacked.mean(0)
        variance = float(((stacked - mean) ** 2).sum((1, 2)).mean())
        rows[name] = {"samples": len(grads), "variance": variance, "passes": passes,
                      "variance_x_passes": variance * passes, "mean": mean,
                      "seconds": round(time.perf_counter() - tick, 1)}
    reference = rows.get("ram", next(iter(rows.values())))["mean"]
    for row in rows.values():
        row["bias_sq_vs_ram"] = float(((row.pop("mean") - reference) ** 2).sum())
    result = {"data": args.data, "warmup_epochs": args.warmup, "alpha_scale": args.alpha_scale,
              "ram_decisions": args.ram_decisions, "entropy": float(params.entropy().detach()),
              "estimators": rows, "wall_s": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'estimator':10} {'samples':>7} {'mean sq dev':>12} {'passes':>7} "
          f"{'var x passes':>13} {'|mean-ram|^2':>13} {'s':>6}")
    for name, row in rows.items():
        print(f"{name:10} {row['samples']:7d} {row['variance']:12.4g} {row['passes']:7.1f} "
              f"{row['variance_x_passes']:13.4g} {row['bias_sq_vs_ram']:13.4g} "
              f"{row['seconds']:6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
