"""Mutation-test one module against a chosen set of tests (mutmut, one worker).

    python tests/mutation/run.py nao/metrics.py                       # tests/nao/test_metrics*.py
    python tests/mutation/run.py pipelines/search/loop.py tests/pipelines/search/test_search_loop.py \
        -k "not nao"                                                  # pytest -k, as usual
    python tests/mutation/run.py nao/metrics.py --rerun               # retest every mutant
    python tests/mutation/run.py nao/metrics.py --survivors           # retest the survivors
    python tests/mutation/run.py nao/metrics.py --show nao.metrics.x_spearman__mutmut_1
    python tests/mutation/run.py nao/metrics.py --show survivors     # every survivor's diff

mutmut reads its settings from ``[tool.mutmut]`` in pyproject.toml and always works in
``./mutants``; both are per project, not per call. This script gives each module its own work
directory, ``mutants/<module>/`` (symlinks to the sources, tests and pyproject.toml, plus
mutmut's own ``mutants/``), and narrows the configuration there to that one file and the named
tests. Results are kept, so a second run only tests mutants of functions that changed; ``--rerun``
tests them all again, ``--survivors`` the last survivors (after adding a test). It ends with the kill rate and the survivors.
See docs/testing.md. Not collected by pytest (the name does not start with ``test``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINKED = ("nao", "search_spaces", "pipelines", "tests", "docs", "pyproject.toml")
# a mutant that makes the tests hang was noticed as surely as one that makes them fail
DETECTED = ("killed", "timeout", "caught by type check")


def _module_path(arg: str) -> str:
    path = arg if arg.endswith(".py") else arg.replace(".", "/") + ".py"
    if not (ROOT / path).is_file():
        raise SystemExit(f"no such module: {path}")
    return path


def _default_tests(module: str) -> list[str]:
    """tests/<package path>/test_<name>*.py, the suite's mirror of the source tree."""
    src = Path(module)
    found = sorted((ROOT / "tests" / src.parent).glob(f"test_{src.stem}*.py"))
    if not found:
        raise SystemExit(f"no tests/{src.parent}/test_{src.stem}*.py: name the tests to run")
    return [str(p.relative_to(ROOT)) for p in found]


def _work_dir(module: str) -> Path:
    work = ROOT / "mutants" / module[: -len(".py")].replace("/", ".")
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = work / name
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(ROOT / name, work))
    return work


def _configure(module: str, tests: list[str], keyword: str | None) -> None:
    """Load [tool.mutmut] from the work directory and narrow it before mutmut reads it."""
    from mutmut import configuration

    cfg = configuration._load_config()
    cfg.only_mutate = [module]
    if tests:
        cfg.pytest_add_cli_args_test_selection = [*tests, "-m", "not slow"]
        if keyword:
            cfg.pytest_add_cli_args_test_selection += ["-k", keyword]
    configuration._config = cfg


def _summary(module: str) -> tuple[Counter, list[str]]:
    from mutmut.stats import status_by_exit_code

    meta = Path("mutants") / (module + ".meta")
    if not meta.is_file():
        return Counter(), []
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    status = {name: status_by_exit_code[code] for name, code in codes.items()}
    alive = sorted(n for n, s in status.items() if s not in DETECTED)
    return Counter(status.values()), alive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="source file (nao/metrics.py) or dotted name (nao.metrics)")
    parser.add_argument("tests", nargs="*", help="pytest paths or node ids (default: the mirror test files)")
    parser.add_argument("-k", metavar="EXPR", help="pytest -k expression narrowing the tests")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutants (default 1)")
    parser.add_argument("--rerun", action="store_true", help="test every mutant again, not only new ones")
    parser.add_argument("--survivors", action="store_true",
                        help="test the last run's survivors again (after adding a test)")
    parser.add_argument("--show", metavar="MUTANT",
                        help="print one mutant's diff ('survivors': every survivor's) and stop")
    parser.add_argument("--results", action="store_true", help="print the last run's summary and stop")
    args = parser.parse_args(argv)

    module = _module_path(args.module)
    dotted = module[: -len(".py")].replace("/", ".")
    work = _work_dir(module)
    # Hypothesis on a fixed seed (tests/conftest.py's "ci" profile), so a verdict does not
    # depend on which examples one run drew; one thread per worker on a small machine.
    os.environ.setdefault("CI", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.chdir(work)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() not in (ROOT, work)]

    report_only = args.show or args.results
    for test in args.tests:  # a typo would change the selection, which resets every verdict
        if not (ROOT / test.split("::")[0]).exists():
            raise SystemExit(f"no such test file or directory: {test}")
    _configure(module, [] if report_only else (args.tests or _default_tests(module)), args.k)
    from mutmut.__main__ import cli

    if args.show:
        for name in _summary(module)[1] if args.show == "survivors" else [args.show]:
            cli(["show", name], standalone_mode=False)
        return 0
    if not args.results:
        started = time.monotonic()
        names = [f"{dotted}.*"] if args.rerun else []
        if args.survivors and not args.rerun:
            names = _summary(module)[1]
            if not names:
                print("no survivors to test again")
                return 0
        try:
            cli(["run", "--max-children", str(args.max_children), *names], standalone_mode=False)
        except SystemExit as stop:
            if stop.code:
                return int(stop.code)
        print(f"\nwall time: {time.monotonic() - started:.0f} s")

    counts, alive = _summary(module)
    total = sum(counts.values())
    killed = sum(counts[s] for s in DETECTED)
    print(f"\n{module}: {total} mutants, {killed} killed"
          + (f" ({counts['timeout']} by a timeout)" if counts["timeout"] else "")
          + "".join(f", {n} {s}" for s, n in sorted(counts.items()) if s not in DETECTED))
    if total:
        print(f"kill rate {100 * killed / total:.1f} % (before setting aside equivalent mutants)")
    for name in alive:
        print("   ", name)
    if alive:
        print(f"\nread one: python tests/mutation/run.py {module} --show NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main())
