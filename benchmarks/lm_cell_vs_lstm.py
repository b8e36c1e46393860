"""A word-level language model with a random enas-rnn cell against an LSTM of the same hidden
size, trained the same way on the same corpus (the "random cell" and "LSTM" reference points
of the enas-rnn table in docs/results.md, before any search).

Both models share everything but the recurrent cell: embedding, tied softmax, dropouts on the
cell's input and output (the cell's own recurrent masks are off, since the LSTM has none), SGD
with ENAS / DARTS's learning rate 20 and gradient clipping 0.25, BPTT segments in text order with
the hidden state carried over. Validation perplexity is measured after every epoch.

    python benchmarks/lm_cell_vs_lstm.py --data kjv --hidden 64 --epochs 1 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from pipelines.training.epochs import train_epoch
from pipelines.training.lm_eval import evaluate_lm
from pipelines.training.runtime import Runtime
from pipelines.training.task import BPTT, LanguageModeling
from pipelines.training.text_data import TEXT_DATASETS, load_text
from search_spaces import get_space
from search_spaces.enas_rnn_net import lstm_lm

HIDDEN = 64
BATCH = 64  # ENAS / DARTS search on PTB use 64 to 256 streams
LR = 20.0  # SGD, as ENAS, DARTS and NAO train their PTB language models
GRAD_CLIP = 0.25
DROPOUT = 0.1  # input and output dropout of both models; small: a tiny model, few epochs
NODES = 8


def perplexity_of(model, task: LanguageModeling, split: str) -> float:
    score = evaluate_lm(model, task, split)
    return task.metric(score.loss_sum, score.hits, score.count)


def run(name: str, model, task: LanguageModeling, args) -> dict:
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    history = []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.reset_state()
        loss, accuracy = train_epoch(model, task, optimizer, Runtime("cpu"),
                                     batch_size=args.batch_size, generator=torch.Generator(),
                                     grad_clip=GRAD_CLIP)
        history.append({"epoch": epoch + 1, "train_loss": round(loss, 4),
                        "train_next_word_accuracy": round(accuracy, 4),
                        "valid_perplexity": round(perplexity_of(model, task, "valid"), 2),
                        "wall_s": round(time.perf_counter() - start, 1)})
        print(f"{name}: {history[-1]}", file=sys.stderr)
    return {"params": sum(p.numel() for p in model.parameters()), "history": history,
            "valid_perplexity": history[-1]["valid_perplexity"],
            "test_perplexity": round(perplexity_of(model, task, "test"), 2),
            "wall_s": round(time.perf_counter() - start, 1)}


def warm_up() -> None:
    """PyTorch's first optimizer step loads code once per process; pay it before any clock
    starts, so neither model's wall time includes it."""
    weight = torch.zeros(1, requires_grad=True)
    (weight * 2).sum().backward()
    torch.optim.SGD([weight], lr=1.0).step()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=TEXT_DATASETS, default="kjv")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--nodes", type=int, default=NODES)
    parser.add_argument("--hidden", type=int, default=HIDDEN)
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--bptt", type=int, default=BPTT)
    parser.add_argument("--train-words", type=int, default=None,
                        help="train on the first N words of the training split (quick runs)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--dropout", type=float, default=DROPOUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warm_up()
    start = time.perf_counter()
    data = load_text(args.data, args.data_dir)
    if args.train_words is not None:
        data = replace(data, train=data.train[:args.train_words])
    load_s = time.perf_counter() - start
    task = LanguageModeling(data, seq_len=args.bptt)
    space = get_space(f"enas-rnn:nodes={args.nodes}")
    cell = space.sample(np.random.default_rng(args.seed))
    dropouts = {"dropout": args.dropout, "dropouti": args.dropout, "dropoute": 0.0,
                "dropoutx": 0.0, "dropouth": 0.0}
    out = {"data": data.summary(), "load_s": round(load_s, 2), "hidden": args.hidden,
           "batch_size": args.batch_size, "bptt": args.bptt, "epochs": args.epochs,
           "lr": args.lr, "dropout": args.dropout, "seed": args.seed,
           "cell": space.to_string(cell), "results": {}}
    torch.manual_seed(args.seed)
    out["results"]["random_cell"] = run("random cell",
                                        space.build_lm(cell, data.vocab_size, args.hidden,
                                                       dropouts), task, args)
    torch.manual_seed(args.seed)
    out["results"]["lstm"] = run("lstm", lstm_lm(data.vocab_size, args.hidden, dropouts), task,
                                 args)
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
