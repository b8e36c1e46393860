"""The enas-rnn table of docs/results.md: a recurrent cell searched with shared weights on a text
corpus by each controller (nao, rl, random; or a relaxed one: darts, snas, sf, relax, ram), its
pick retrained from scratch, next to a random
cell and an LSTM of the same size trained the same way; a markdown table of search wall time,
validation and test perplexity of the retrained models.

Everything runs through the library's own search (:class:`LMWeightSharingSearch` or
:class:`LMRelaxedSearch`, as ``nao ws --space enas-rnn``) and training (:func:`train_lm`, as ``nao train --space enas-rnn``).
CPU-sized defaults: 4-node cells, 64 hidden units, the first 100k training words of the KJV,
3 search epochs with a pool of 20, 2 training epochs on the same 100k words; light dropout
(0.1 on the cell's input and output, none elsewhere) because the papers' heavy dropouts suit
hundreds of epochs on a GPU, not a few on a CPU. Every model sees the same words and seed.

    python benchmarks/lm_search.py                      # the figure (about 25 min on one core)
    python benchmarks/lm_search.py --data standin-text --hidden 8 --search-epochs 1 \
        --train-epochs 1 --pool-size 4 --train-size 3000 --nodes 3   # a seconds-long check
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from pipelines.oneshot.lm_weight_sharing import LMWeightSharingSearch
from pipelines.oneshot.methods import METHODS, RELAXED
from pipelines.oneshot.relaxed_search import LMRelaxedSearch
from pipelines.oneshot.weight_sharing import CONTROLLERS
from pipelines.training.lm_train import LMOptions, train_lm, trim_train
from pipelines.training.runtime import Runtime
from pipelines.training.task import BPTT
from pipelines.training.text_data import TEXT_DATASETS, load_text
from search_spaces import get_space

DROPOUT = 0.1


def dropouts(rate: float) -> dict:
    return {"dropout": rate, "dropouti": rate, "dropoute": 0.0, "dropoutx": 0.0,
            "dropouth": 0.0}


def retrain(space, arch, data, args) -> dict:
    options = LMOptions(args.hidden, args.batch_size, args.bptt, dropouts(args.dropout))
    result = train_lm(space, arch, data, epochs=args.train_epochs, options=options,
                      runtime=Runtime("cpu", args.threads), random_state=args.seed,
                      progress=not args.quiet)
    return {"valid_ppl": result.valid_ppl, "test_ppl": result.test_ppl,
            "train_s": round(result.wall_s, 1), "params": result.params}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=TEXT_DATASETS, default="kjv")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bptt", type=int, default=BPTT)
    parser.add_argument("--train-size", type=int, default=100_000,
                        help="training words (a prefix of the training split)")
    parser.add_argument("--search-epochs", type=int, default=3)
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--dropout", type=float, default=DROPOUT)
    parser.add_argument("--controllers", nargs="+", default=list(CONTROLLERS),
                        choices=list(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    space = get_space(f"enas-rnn:nodes={args.nodes}")
    data = trim_train(load_text(args.data, args.data_dir), args.train_size)
    rows = []
    for controller in args.controllers:
        common = {"epochs": args.search_epochs, "hidden": args.hidden,
                  "batch_size": args.batch_size, "bptt": args.bptt,
                  "dropouts": dropouts(args.dropout), "threads": args.threads, "device": "cpu",
                  "random_state": args.seed, "progress": not args.quiet}
        if METHODS[controller].family == RELAXED:  # no pool; ppl of the pick in best_valid_
            search = LMRelaxedSearch(space, controller, **common).fit(data)
            valid_ppl = search.best_valid_
        else:
            search = LMWeightSharingSearch(space, controller, pool_size=args.pool_size,
                                           **common).fit(data)
            valid_ppl = search.best_valid_ppl_
        rows.append({"model": f"{controller} pick", "arch": space.to_string(search.best_arch_),
                     "search_s": round(search.wall_s_, 1), "search_valid_ppl": valid_ppl,
                     **retrain(space, search.best_arch_, data, args)})
    cell = space.sample(np.random.default_rng(args.seed))
    rows.append({"model": "random cell", "arch": space.to_string(cell), "search_s": None,
                 **retrain(space, cell, data, args)})
    rows.append({"model": "lstm", "arch": "lstm", "search_s": None,
                 **retrain(space, None, data, args)})
    out = {"data": data.summary(), "nodes": args.nodes, "hidden": args.hidden,
           "search_epochs": args.search_epochs, "train_epochs": args.train_epochs,
           "pool_size": args.pool_size, "dropout": args.dropout, "seed": args.seed,
           "rows": rows}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{args.data}, {len(data.train)} training words, hidden {args.hidden}, "
              f"{args.nodes} nodes, search {args.search_epochs} epochs (pool "
              f"{args.pool_size}), retraining {args.train_epochs} epochs, seed {args.seed}\n")
        print("| model | search wall s | valid ppl | test ppl | cell |")
        print("|---|---|---|---|---|")
        for r in rows:
            wall = "-" if r["search_s"] is None else f"{r['search_s']:.0f}"
            cell = r["arch"].replace("|", "\\|")  # a cell's own bars would split the row
            print(f"| {r['model']} | {wall} | {r['valid_ppl']:.1f} | {r['test_ppl']:.1f} | "
                  f"`{cell}` |")
    return out


if __name__ == "__main__":
    main()
