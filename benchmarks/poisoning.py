"""Search-space poisoning (Jain et al., "Experimentally assessing RL based NAS controllers",
Table 1): is a controller's result the controller's or the space's?

For ENAS's macro space with its full op set and with each of the study's four restricted sets,
search with weight sharing (``nao ws``) under the ENAS controller (``rl``) and under ``nao``,
take the ``--top`` architectures each likes best (the final pool's best by shared-weight
validation accuracy, re-scored on the whole validation split: for ``rl`` the final pool is a
fresh batch of its policy's samples, for ``nao`` the survivors and NAO's proposals), train each
from scratch for ``--train-epochs`` epochs on the training split, and report their mean
validation and test accuracy beside ``--top`` random architectures of the same restricted space
trained the same way. The study's CIFAR-10 numbers (10 architectures, 30 epochs) are printed
beside ours.

Every finished search and every finished set of trainings is saved under ``--out`` at once
(``runs/*.json``) and reused by the next call with the same settings, so an interrupted run
loses nothing finished.

    python benchmarks/poisoning.py --data digits --layers 6 --search-epochs 10 --train-epochs 10
    python benchmarks/poisoning.py --quick          # smoke run: 3 layers, 1 epoch each
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed

from nao.errors import ConfigError, NaoError
from pipelines.oneshot.weight_sharing import WeightSharingSearch
from pipelines.training.data import ImageData, load_data
from pipelines.training.epochs import train_epoch
from pipelines.training.final import GRAD_CLIP, LR, MOMENTUM, WEIGHT_DECAY, accuracy
from pipelines.training.runtime import Runtime
from pipelines.training.task import ImageClassification
from search_spaces import get_space
from search_spaces.enas_macro import EnasMacroSpace
from search_spaces.enas_macro_arch import OP_MEANING, OPS

# the study's Table 1: its row number -> op set (1 is ENAS's full set)
SETS: dict[str, tuple[str, ...]] = {
    "1": OPS,
    "2": ("conv5", "sep5", "avg"),
    "3": ("conv3", "conv5", "max"),
    "4": ("conv3", "sep3", "conv5", "sep5", "avg"),
    "5": ("conv5", "avg", "max"),
}
# the study's mean validation and test accuracy of its controller's 10 picks, CIFAR-10, 30 epochs
PAPER = {"1": (0.7981, 0.7541), "2": (0.7770, 0.7259), "3": (0.1250, 0.1125),
         "4": (0.7845, 0.7354), "5": (0.7685, 0.7104)}
CONTROLLERS = ("rl", "nao")
RANDOM = "random"  # the control: architectures drawn uniformly from the same restricted space
RANDOM_STREAM = 1  # its draws come from (seed, 1), apart from the controllers' initial pools
DEFAULTS = {"data": "digits", "layers": 6, "search_epochs": 10, "train_epochs": 10, "top": 10,
            "pool_size": 20, "channels": 16, "batch_size": 64}
OPTIONAL = {"train_size": None, "stem_stride": 1}
QUICK = {"layers": 3, "search_epochs": 1, "train_epochs": 1, "top": 2, "pool_size": 4,
         "channels": 4, "batch_size": 32}


def space_of(set_id: str, layers: int) -> EnasMacroSpace:
    return get_space(f"enas-macro:layers={layers},ops={'+'.join(SETS[set_id])}")


_DATA: dict[tuple, ImageData] = {}  # a plain dict: joblib's workers unpickle it with the function


def data_of(config: dict) -> ImageData:
    key = (config["data"], config["seed"], config["data_dir"], config.get("train_size"))
    if key not in _DATA:
        _DATA[key] = load_data(config["data"], seed=config["seed"],
                               data_dir=config["data_dir"], train_size=config.get("train_size"))
    return _DATA[key]


def search(config: dict, set_id: str, controller: str) -> dict:
    """One weight-sharing search; its ``top`` picks (strings) and wall time."""
    space = space_of(set_id, config["layers"])
    data = data_of(config)
    start = time.perf_counter()
    ws = WeightSharingSearch(
        space, controller, epochs=config["search_epochs"], channels=config["channels"],
        stem_stride=config["stem_stride"],
        batch_size=config["batch_size"], pool_size=config["pool_size"],
        final_candidates=config["top"], device="cpu", threads=config["threads"],
        random_state=config["seed"], progress=False).fit(data)
    return {"picks": [space.to_string(a) for a, _ in ws.candidates_],
            "shared_valid": [v for _, v in ws.candidates_],
            "wall_s": round(time.perf_counter() - start, 3)}


def random_picks(config: dict, set_id: str) -> dict:
    space = space_of(set_id, config["layers"])
    rng = np.random.default_rng((config["seed"], RANDOM_STREAM))
    return {"picks": [space.to_string(a) for a in space.sample_distinct(config["top"], rng)],
            "wall_s": 0.0}


def train(config: dict, set_id: str, arch_text: str, seed: int) -> dict:
    """``arch_text`` trained from scratch on the training split (SGD, cosine schedule, the final
    training's learning rate, momentum, weight decay and clipping; no auxiliary head, no
    drop-path, no cutout); its validation and test accuracy."""
    space = space_of(set_id, config["layers"])
    data = data_of(config)
    runtime = Runtime("cpu", config["threads"])
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.build(space.from_string(arch_text), config["channels"], data.num_classes,
                            1, data.in_channels, stem_stride=config["stem_stride"])
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                                    weight_decay=WEIGHT_DECAY)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config["train_epochs"])
        task = ImageClassification(data)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(config["train_epochs"]):
            train_epoch(model, task, optimizer, runtime, batch_size=config["batch_size"],
                        generator=generator, grad_clip=GRAD_CLIP)
            schedule.step()
    return {"arch": arch_text, "valid": accuracy(model, data, data.valid, runtime),
            "test": accuracy(model, data, data.test, runtime), "params": model.num_params(),
            "wall_s": round(time.perf_counter() - start, 3)}


# ----- saved runs --------------------------------------------------------------------------
def saved(path: Path, config: dict) -> dict | None:
    """The run saved at ``path`` when it was made with ``config``."""
    if not path.exists():
        return None
    blob = json.loads(path.read_text())
    return blob["result"] if blob.get("config") == config else None


def save(path: Path, config: dict, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"config": config, "result": result}, indent=1))
    tmp.replace(path)


def search_config(config: dict) -> dict:
    """What a saved search must share with this call (the :data:`OPTIONAL` settings only where
    they are not at their default, so runs saved before they existed are still read)."""
    keys = ("data", "data_dir", "seed", "layers", "search_epochs", "top", "pool_size",
            "channels", "batch_size")
    changed = {k: config[k] for k, default in OPTIONAL.items() if config[k] != default}
    return {**{k: config[k] for k in keys}, **changed}


def train_config(config: dict, picks: list[str]) -> dict:
    return {**search_config(config), "train_epochs": config["train_epochs"], "picks": picks}


def run(config: dict, out: Path, progress=print) -> list[dict]:
    """Every (set, source) row: searches first (in parallel), then every training."""
    runs = out / "runs"
    jobs = Parallel(n_jobs=config["jobs"])
    sources = [*config["controllers"], RANDOM]
    pairs = [(s, c) for s in config["sets"] for c in sources]
    picks: dict[tuple[str, str], dict] = {}
    todo = []
    for s, c in pairs:
        path = runs / f"search-set{s}-{c}.json"
        if (found := saved(path, search_config(config))) is not None:
            picks[s, c] = found
        elif c == RANDOM:
            picks[s, c] = random_picks(config, s)
            save(path, search_config(config), picks[s, c])
        else:
            todo.append((s, c))
    progress(f"searches: {len(todo)} to run, {len(pairs) - len(todo)} saved")
    searches = Parallel(n_jobs=config["jobs"], return_as="generator")  # saved as they come
    for (s, c), result in zip(todo, searches(delayed(search)(config, s, c) for s, c in todo),
                              strict=True):
        picks[s, c] = result
        save(runs / f"search-set{s}-{c}.json", search_config(config), result)
        progress(f"searched set {s} with {c} in {result['wall_s']:.0f} s")
    trained: dict[tuple[str, str], list[dict]] = {}
    todo = []
    for s, c in pairs:
        tconfig = train_config(config, picks[s, c]["picks"])
        if (found := saved(runs / f"train-set{s}-{c}.json", tconfig)) is not None:
            trained[s, c] = found
        else:
            todo.append((s, c))
    progress(f"trainings: {sum(len(picks[p]['picks']) for p in todo)} to run")
    for s, c in todo:  # saved one row at a time, so an interrupted run keeps the rows it finished
        arch_texts = picks[s, c]["picks"]
        trained[s, c] = jobs(delayed(train)(config, s, arch, config["seed"] + k)
                             for k, arch in enumerate(arch_texts))
        save(runs / f"train-set{s}-{c}.json", train_config(config, arch_texts), trained[s, c])
        progress(f"trained set {s} {c}")
    rows = []
    for s, c in pairs:
        children = trained[s, c]
        rows.append({"set": s, "ops": list(SETS[s]), "source": c,
                     "valid": [r["valid"] for r in children], "test": [r["test"] for r in children],
                     "search_s": picks[s, c]["wall_s"],
                     "train_s": round(sum(r["wall_s"] for r in children), 3),
                     "picks": picks[s, c]["picks"]})
    return rows


# ----- report ------------------------------------------------------------------------------
def mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4f}" if values else "-"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def table(rows: list[dict], config: dict) -> str:
    lines = [
        f"Search-space poisoning on {config['data']}"
        f"{f' ({n} training images)' if (n := config.get('train_size')) else ''}: "
        f"enas-macro with {config['layers']} layers, "
        f"{config['channels']} channels, stem stride {config['stem_stride']}; weight-sharing "
        f"search {config['search_epochs']} epochs "
        f"(pool {config['pool_size']}); the {config['top']} best picks of each controller and "
        f"{config['top']} random architectures of the same space trained {config['train_epochs']} "
        f"epochs from scratch; seed {config['seed']}. Paper: Jain et al. Table 1, the ENAS "
        "controller's 10 picks on CIFAR-10 (30 epochs).",
        "",
        "| # | ops | picks by | mean valid | mean test | search s | train s | paper valid "
        "| paper test |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        paper = PAPER[row["set"]] if row["source"] == "rl" else None
        lines.append(
            f"| {row['set']} | {', '.join(row['ops'])} | {row['source']} | "
            f"{mean_std(row['valid'])} | {mean_std(row['test'])} | {row['search_s']:.0f} | "
            f"{row['train_s']:.0f} | {f'{paper[0]:.4f}' if paper else ''} | "
            f"{f'{paper[1]:.4f}' if paper else ''} |")
    ops = ", ".join(f"{op} = {OP_MEANING[op]}" for op in OPS)
    lines += ["", f"ops: {ops}."]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help=f"digits or fashion-mnist (default {DEFAULTS['data']})")
    p.add_argument("--data-dir", default=None, help="where Fashion-MNIST's files are")
    p.add_argument("--train-size", type=int, default=None, metavar="N",
                   help="keep N training images (a seed-fixed subset; validation and test "
                        "unchanged), for Fashion-MNIST on a CPU")
    p.add_argument("--layers", type=int, help=f"macro layers (default {DEFAULTS['layers']})")
    p.add_argument("--search-epochs", type=int,
                   help=f"shared-weight epochs per search (default {DEFAULTS['search_epochs']})")
    p.add_argument("--train-epochs", type=int,
                   help=f"epochs each pick trains (default {DEFAULTS['train_epochs']})")
    p.add_argument("--top", type=int,
                   help=f"picks per controller and random architectures (default {DEFAULTS['top']})")
    p.add_argument("--pool-size", type=int,
                   help=f"the search's pool (default {DEFAULTS['pool_size']})")
    p.add_argument("--channels", type=int, help=f"first-stage channels (default "
                                                f"{DEFAULTS['channels']})")
    p.add_argument("--batch-size", type=int, help=f"minibatch (default {DEFAULTS['batch_size']})")
    p.add_argument("--stem-stride", type=int, default=1, choices=(1, 2),
                   help="2 halves the images before the first layer (28x28 on a CPU)")
    p.add_argument("--sets", default=",".join(SETS),
                   help="Table 1 rows to run, comma-separated: 1 = all six ops, 2 = conv5, sep5, "
                        "avg; 3 = conv3, conv5, max; 4 = all but max; 5 = conv5, avg, max "
                        "(default all)")
    p.add_argument("--controllers", default=",".join(CONTROLLERS),
                   help="weight-sharing controllers, comma-separated (default rl,nao); random "
                        "architectures are always trained beside them")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="searches / trainings run in parallel")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job (default 1)")
    p.add_argument("--out", default="poisoning-out", help="folder for runs/*.json and the table")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 3 layers, 1 search and 1 training epoch, 2 picks, pool 4, "
                        "4 channels (options given explicitly still win)")
    args = p.parse_args(argv)
    base = {**DEFAULTS, **(QUICK if args.quick else {})}
    config = {k: getattr(args, k) if getattr(args, k) is not None else v
              for k, v in base.items()}
    config.update(data_dir=args.data_dir, train_size=args.train_size,
                  stem_stride=args.stem_stride, seed=args.seed,
                  jobs=args.jobs, threads=args.threads)
    config["sets"] = [s.strip() for s in args.sets.split(",") if s.strip()]
    config["controllers"] = [c.strip() for c in args.controllers.split(",") if c.strip()]
    check(config)
    return {**config, "out": args.out}


def check(config: dict) -> None:
    if bad := [s for s in config["sets"] if s not in SETS]:
        raise ConfigError(f"unknown set {bad[0]!r}; choose from {', '.join(SETS)}")
    if bad := [c for c in config["controllers"] if c not in CONTROLLERS]:
        raise ConfigError(f"unknown controller {bad[0]!r}; choose from {', '.join(CONTROLLERS)}")
    if not config["sets"]:
        raise ConfigError("--sets is empty; name at least one of " + ", ".join(SETS))
    for key in ("layers", "search_epochs", "train_epochs", "top", "channels", "batch_size",
                "jobs", "threads"):
        if config[key] < 1:
            raise ConfigError(f"--{key.replace('_', '-')} must be at least 1, got {config[key]}")
    if config["train_size"] is not None and config["train_size"] < config["batch_size"]:
        raise ConfigError(f"--train-size must be at least --batch-size ({config['batch_size']}), "
                          f"got {config['train_size']}")
    if config["pool_size"] < max(2, config["top"]):
        raise ConfigError(f"--pool-size must be at least --top ({config['top']}) and 2, got "
                          f"{config['pool_size']}")


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    out = Path(config.pop("out"))
    start = time.perf_counter()
    rows = run(config, out, progress=lambda line: print(line, file=sys.stderr))
    text = table(rows, config)
    wall = round(time.perf_counter() - start, 3)
    out.mkdir(parents=True, exist_ok=True)
    (out / "poisoning.md").write_text(text + f"\n\nwall time of this call: {wall:.0f} s\n")
    report = {"config": config, "rows": rows, "wall_s": wall}
    (out / "poisoning.json").write_text(json.dumps(report, indent=1))
    print(text)
    print(f"\nwall time of this call: {wall:.0f} s (saved runs reused); wrote {out}/poisoning.md")
    return report


if __name__ == "__main__":
    try:
        main()
    except NaoError as err:
        sys.exit(f"poisoning: error: {err}")
