"""``nao`` console script: argparse subcommands, ``--json`` output, and the one place where an
error becomes what the user sees.

Bad input (any :class:`~nao.errors.NaoError`, and the operating system's or SQLite's refusals) is
one line on stderr and exit 2; anything unexpected is one line naming ``--debug`` and exit 1;
``nao --debug CMD ...`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import errno
import json
import sqlite3
import sys
import traceback
from collections.abc import Sequence

from nao.errors import NaoError
from nao.validation import shown, shown_text

DESCRIPTION = ("Neural Architecture Optimization: search architectures with NAO and the "
               "strategies it is compared with, evaluate its performance predictor, train and "
               "draw what was found. Every command takes --help.")
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
MAX_MESSAGE = 300  # an unexpected error's text is cut here; --debug shows it all
MAX_UNRECOGNIZED = 3  # unrecognized arguments named in the message, at most

OS_ERROR_HINTS = {
    errno.ENOSPC: "free some space and run again (with --resume where the command has --out)",
    errno.EDQUOT: "free some space and run again (with --resume where the command has --out)",
    errno.EACCES: "choose a path you may write to",
    errno.EPERM: "choose a path you may write to",
    errno.EROFS: "choose a path on a writable file system",
    errno.ENOENT: "check the path",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (then exit 2)."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(EXIT_BAD_INPUT)

    def _check_value(self, action: argparse.Action, value) -> None:
        # argparse's own check, quoting the value cut short as every other message does
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            raise argparse.ArgumentError(action, f"invalid choice: {shown(value)} (choose from "
                                                 f"{choices})")

    def _get_value(self, action: argparse.Action, arg_string: str):
        # argparse's own conversion; its message on a bad value quotes the value cut short
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError as exc:
            exc.message = exc.message.replace(repr(arg_string), shown(arg_string))
            raise

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        # argparse's own, naming at most a few unrecognized arguments, each cut short
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            named = " ".join(shown_text(arg) for arg in extra[:MAX_UNRECOGNIZED])
            more = f" ... ({len(extra)} in all)" if len(extra) > MAX_UNRECOGNIZED else ""
            self.error(f"unrecognized arguments: {named}{more}")
        return parsed


def package_version() -> str:
    """The installed distribution's version; a source tree that was never installed says so."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nao")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from .commands import COMMANDS  # here, so a Ctrl-C while torch loads is caught in main

    parser = OneLineParser(prog="nao", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"nao {package_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the traceback as well (also accepted after COMMAND)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    for command_parser in sub.choices.values():
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help="on an error, show the traceback as well")
        for action in command_parser._actions:
            if "--out" in action.option_strings:
                action.type = non_empty_path(action.type)
    return parser


def non_empty_path(cast=None):
    """A ``type=`` for ``--out`` of every command: an empty (or blank) path names nothing, and
    would otherwise run as if ``--out`` were not given, keeping nothing or writing elsewhere
    without a word; then ``cast`` (the option's own type) as before."""

    def parse(text: str):
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{text!r} is an empty path; give a path (e.g. "
                                             "--out run1), or drop --out")
        return cast(text) if cast is not None else text

    return parse


def emit(result: dict, as_json: bool, summary: str) -> None:
    """JSON object on stdout with ``--json``, else the human summary."""
    if as_json:
        json.dump(result, sys.stdout, default=_jsonable)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(summary.rstrip("\n") + "\n")


def _jsonable(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def one_line(text: str) -> str:
    """A message as one line: a multi-line text's lines joined."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def describe_os_error(exc: OSError) -> str:
    """What the operating system refused, on which path, and what to do about it."""
    what = exc.strerror or one_line(str(exc)) or type(exc).__name__
    if exc.filename is not None:
        what = f"{shown_text(exc.filename)}: {what}"
    hint = OS_ERROR_HINTS.get(exc.errno, "nao --debug shows where it happened")
    return f"{what}; {hint}"


def describe_sqlite_error(exc: sqlite3.Error) -> str:
    return (f"the store's database failed: {one_line(str(exc))}; check that the disk has space "
            "and no other program holds the store (nao --debug shows where it happened)")


def describe_unexpected(command: str, exc: BaseException) -> str:
    text = one_line(str(exc))
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + "..."
    return (f"internal error: {type(exc).__name__}: {text} (run again as nao --debug {command} "
            "... to see the traceback)")


def fail(command: str, message: str, code: int, debug: bool) -> int:
    """Write the one line (after the traceback with ``--debug``) and give the exit code."""
    if debug:
        traceback.print_exc()
    sys.stderr.write(f"nao {command}: {one_line(message)}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except KeyboardInterrupt:
        sys.stderr.write("nao: interrupted while starting; nothing was done\n")
        return EXIT_INTERRUPTED
    args = parser.parse_args(argv)
    command, debug = args.command, bool(getattr(args, "debug", False))
    try:
        result, summary = args.run(args)
        emit(result, getattr(args, "json", False), summary)
    except NaoError as exc:
        return fail(command, f"error: {exc}", EXIT_BAD_INPUT, debug)
    except KeyboardInterrupt as exc:  # a command may say what was kept
        return fail(command, str(exc) or "interrupted", EXIT_INTERRUPTED, debug)
    except OSError as exc:
        return fail(command, f"error: {describe_os_error(exc)}", EXIT_BAD_INPUT, debug)
    except sqlite3.Error as exc:
        return fail(command, f"error: {describe_sqlite_error(exc)}", EXIT_BAD_INPUT, debug)
    except Exception as exc:
        return fail(command, describe_unexpected(command, exc), EXIT_INTERNAL, debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
