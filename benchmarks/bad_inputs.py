"""What happens on bad input: every case of docs/errors.md run through the real ``nao`` script.

    python benchmarks/bad_inputs.py                    # print the table
    python benchmarks/bad_inputs.py --doc docs/errors.md   # rewrite the table in the doc

Each case runs ``nao ...`` in a scratch directory (with the bad files it needs made there) and
records the exit code, the number of lines on stderr, the message and the wall time. The doc's
table is regenerated, so it shows what the code says when it is run, not what it said when the
table was written.
"""

from __future__ import annotations

import argparse
import gzip
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- bad-inputs:begin -->"
END = "<!-- bad-inputs:end -->"
ARCH = ("normal: 0 identity 1 identity | 0 identity 1 identity | 0 identity 1 identity | "
        "0 identity 1 identity | 0 identity 1 identity ; reduce: 0 identity 1 identity | "
        "0 identity 1 identity | 0 identity 1 identity | 0 identity 1 identity | "
        "0 identity 1 identity")
TRAIN = ["train", "--data", "standin:1x8x8", "--epochs", "1", "--channels", "4", "--arch", ARCH]


class _Payload:
    """Unpickling this would create the file ``MARKER``: what a crafted checkpoint does."""

    def __reduce__(self):
        return (Path.touch, (Path("MARKER"),))


def _run_dir_with(name: str, content: bytes) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        (root / "run").mkdir()
        (root / "run" / name).write_bytes(content)
    return make


def _foreign_db(root: Path) -> None:
    (root / "run").mkdir()
    conn = sqlite3.connect(root / "run" / "store.sqlite")
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()


def _truncated_idx(root: Path) -> None:
    data = gzip.compress(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + bytes(200))
    (root / "fm").mkdir()
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (root / "fm" / name).write_bytes(data[: len(data) // 2])
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (root / "fm" / name).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big")
                                                       + bytes(10)))


@dataclass
class Case:
    what: str
    args: list[str]
    setup: Callable[[Path], None] | None = None


CASES = [
    Case("unknown option of a strategy", ["search", "--set", "bogus=1"]),
    Case("option of the wrong type", ["search", "--set", "top_k=abc"]),
    Case("whole number expected", ["search", "--set", "top_k=1.5"]),
    Case("null where a number is needed", ["search", "--set", "top_k=null"]),
    Case("a group given a value", ["search", "--set", "nao_params=5"]),
    Case("misspelt estimator option", ["search", "--set", "nao_params.epoch=5"]),
    Case("estimator option out of range", ["search", "--set", "nao_params.epochs=-1"]),
    Case("number too large", ["search", "--set", "candidate_factor=1e308"]),
    Case("not a true/false", ["search", "--set", "warm_start=maybe"]),
    Case("predictor-eval option out of range", ["predictor-eval", "--set", "epochs=-1"]),
    Case("predictor-eval unknown option", ["predictor-eval", "--set", "bogus=1"]),
    Case("more architectures than the space has", ["predictor-eval", "--train-size", "30000"]),
    Case("budget larger than the space", ["search", "--budget", "1000000000"]),
    Case("no dataset after the colon", ["search", "--space", "nasbench-graph:"]),
    Case("unknown space", ["search", "--space", "nasbench-graph:mnist"]),
    Case("unknown strategy", ["search", "--strategy", "bayes"]),
    Case("bad architecture string", ["show", "--arch", "0,1,9,2:gcn,gat,gcn,gat"]),
    Case("--layers where the depth is the space's", ["ws", "--space", "enas-macro", "--layers",
                                                     "3"]),
    Case("estimator layers wider than the cap", ["search", "--set",
                                                  "nao_params.hidden_size=4096"]),
    Case("more pseudo-labels than can be drawn", ["search", "--set", "pseudo_labels=1000000000"]),
    Case("empty --out", ["search", "--out", ""]),
    Case("--out is a file", ["search", "--out", "afile"],
         lambda root: (root / "afile").write_text("x")),
    Case("--out not writable", ["search", "--out", "/sys/nao-run"]),
    Case("--out not writable (train)", [*TRAIN, "--out", "/proc/nao-run"]),
    Case("--resume without a run", ["search", "--out", "empty", "--resume"]),
    Case("--resume: garbage store", ["search", "--out", "run", "--resume"],
         _run_dir_with("store.sqlite", b"not a database" * 100)),
    Case("--resume: empty store", ["search", "--out", "run", "--resume"],
         _run_dir_with("store.sqlite", b"")),
    Case("--resume: someone else's SQLite database", ["search", "--out", "run", "--resume"],
         _foreign_db),
    Case("--resume: garbage checkpoint", [*TRAIN, "--out", "run", "--resume"],
         _run_dir_with("checkpoint.pt", b"\x80\x04garbage")),
    Case("--resume: empty checkpoint", [*TRAIN, "--out", "run", "--resume"],
         _run_dir_with("checkpoint.pt", b"")),
    Case("--resume: checkpoint that would run code", [*TRAIN, "--out", "run", "--resume"],
         _run_dir_with("checkpoint.pt", pickle.dumps(_Payload()))),
    Case("--data-dir for a bundled data set", [*TRAIN[:1], "--data", "digits", "--data-dir", "x",
                                               *TRAIN[3:]]),
    Case("truncated Fashion-MNIST file", [*TRAIN[:1], "--data", "fashion-mnist", "--data-dir",
                                          "fm", *TRAIN[3:]], _truncated_idx),
]


def run_case(case: Case) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if case.setup is not None:
            case.setup(root)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *case.args, "--quiet"],
                              cwd=root, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(Path.cwd())})
        wall = time.perf_counter() - start
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return {"what": case.what, "command": "nao " + " ".join(_shown(a) for a in case.args),
                "exit": proc.returncode, "lines": len(lines),
                "message": lines[-1] if lines else "", "wall_s": wall,
                "marker": (root / "MARKER").exists()}


def _shown(arg: str) -> str:
    if arg == ARCH:
        return "'<arch>'"
    return arg if arg and " " not in arg else repr(arg)


def markdown(rows: list[dict]) -> str:
    out = ["| input | command | exit | stderr lines | message | s |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        msg = r["message"].replace("|", "\\|")
        cmd = r["command"].replace("|", "\\|")
        out.append(f"| {r['what']} | `{cmd}` | {r['exit']} | {r['lines']} | {msg} "
                   f"| {r['wall_s']:.1f} |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--doc", type=Path, help="rewrite the table between the markers in this file")
    args = p.parse_args()
    rows = [run_case(c) for c in CASES]
    table = markdown(rows)
    bad = [r for r in rows if r["exit"] != 2 or r["lines"] != 1 or r["marker"]]
    if args.doc:
        text = args.doc.read_text()
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        args.doc.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
    print(table)
    if bad:
        print(f"\n{len(bad)} case(s) not one line with exit 2: "
              + ", ".join(r["what"] for r in bad), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
