"""``Choices``: a space of named categorical choices, for a user's own training function.

The common case of a NAS user is "these named decisions, my ``train(arch) -> score``". Writing a
:class:`~search_spaces.base.SearchSpace` subclass for it is boilerplate, so this space takes the
decisions as a mapping and gives every strategy (NAO included) what it needs: one token position
per decision, in the mapping's order, with only that decision's values valid there. An
architecture is an :class:`Assignment`, an immutable, hashable mapping from name to value::

    space = Choices({"op": ["conv3", "conv5", "pool"], "width": [16, 32, 64]},
                    valid=lambda a: not (a["op"] == "pool" and a["width"] == 64))
    arch = space.sample(np.random.default_rng(0))
    arch["op"], dict(arch), space.to_string(arch)   # 'conv5', {...}, 'op=conv5,width=32'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from nao.errors import ConfigError, InvalidArchitectureError

from .base import SearchSpace, Tokens

# A name or a value's text form may hold neither: they separate the text form's fields.
_SEPARATORS = (",", "=")
# How many draws ``sample`` makes before it says the validity rule admits (almost) nothing.
MAX_SAMPLE_TRIES = 10_000


class Assignment(Mapping):
    """One architecture of a :class:`Choices` space: decision name -> chosen value, in the
    space's order. Immutable and hashable, so it is a key of the search's records."""

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[tuple[str, Any]]):
        self._items = tuple(items)

    def __getitem__(self, name: str) -> Any:
        for key, value in self._items:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Assignment):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Assignment({dict(self._items)!r})"


class Choices(SearchSpace):
    """The product of named categorical choices, optionally restricted by a validity rule.

    ``choices`` maps each decision's name to its values (any objects whose ``str`` forms are
    distinct within the decision). ``valid(assignment) -> bool``, if given, rejects
    combinations; strategies never propose a rejected one. ``name`` is what results and
    messages call the space.
    """

    def __init__(self, choices: Mapping[str, Sequence[Any]],
                 valid: Callable[[Assignment], bool] | None = None, name: str = "choices"):
        if not isinstance(choices, Mapping) or not choices:
            raise ConfigError("Choices needs a non-empty mapping of decision name -> list of "
                              f"values, e.g. {{'op': ['conv3', 'pool']}}; got {_short(choices)}")
        if valid is not None and not callable(valid):
            raise ConfigError(f"Choices: valid must be a function of an assignment returning "
                              f"True or False; got {_short(valid)}")
        self.name = str(name)
        self.names: tuple[str, ...] = ()
        self.values: tuple[tuple[Any, ...], ...] = ()
        vocab: list[str] = []
        offsets: list[int] = []
        for key, options in choices.items():
            _check_text(f"decision name {key!r}", key, must_be_str=True)
            if isinstance(options, (str, bytes)) or not isinstance(options, Sequence) \
                    or len(options) == 0:
                raise ConfigError(f"Choices: decision {key!r} needs a non-empty list of values; "
                                  f"got {_short(options)}")
            texts = [str(v) for v in options]
            for text in texts:
                _check_text(f"value {text!r} of decision {key!r}", text)
            if len(set(texts)) != len(texts):
                repeated = sorted({t for t in texts if texts.count(t) > 1})
                raise ConfigError(f"Choices: decision {key!r} lists {repeated[0]!r} more than "
                                  "once (values are told apart by their text form)")
            self.names += (key,)
            self.values += (tuple(options),)
            offsets.append(len(vocab))
            vocab.extend(f"{key}={text}" for text in texts)
        self.vocab = tuple(vocab)
        self.length = len(self.names)
        self._offsets = tuple(offsets)
        self._ranges = tuple(tuple(range(o, o + len(v)))
                             for o, v in zip(offsets, self.values, strict=True))
        self.valid = valid

    @property
    def size(self) -> int:
        """How many combinations there are before the validity rule (an upper bound)."""
        return math.prod(len(v) for v in self.values)

    # ----- grammar and conversions ----------------------------------------------------------
    def valid_tokens(self, prefix: Tokens) -> Tokens:
        return self._ranges[len(prefix)]

    def to_tokens(self, arch: Assignment) -> Tokens:
        self._check_names(arch)
        tokens = []
        for pos, (key, options) in enumerate(zip(self.names, self.values, strict=True)):
            value = arch[key]
            index = self._index_of(pos, value)
            if index is None:
                raise InvalidArchitectureError(
                    f"{self.name}: {key}={value!r} is not one of the choices "
                    f"{', '.join(map(str, options))}", position=pos)
            tokens.append(self._offsets[pos] + index)
        return tuple(tokens)

    def _arch_from_tokens(self, tokens: Tokens) -> Assignment:
        return Assignment(tuple((key, self.values[pos][tok - self._offsets[pos]])
                                for pos, (key, tok) in enumerate(zip(self.names, tokens,
                                                                     strict=True))))

    def check(self, arch: Assignment) -> None:
        if self.valid is not None and not self.valid(arch):
            raise InvalidArchitectureError(f"{self.name}: {self.to_string(arch)} is rejected by "
                                           "the space's validity rule")

    def to_string(self, arch: Assignment) -> str:
        return ",".join(f"{key}={arch[key]}" for key in self.names)

    def from_string(self, text: str) -> Assignment:
        fields = str(text).split(",")
        if len(fields) != self.length:
            raise InvalidArchitectureError(
                f"{self.name}: expected {self.length} fields name=value separated by ',' "
                f"({', '.join(self.names)}), got {len(fields)}", position=None)
        tokens = []
        for pos, (key, field) in enumerate(zip(self.names, fields, strict=True)):
            name, sep, value = field.partition("=")
            if not sep or name.strip() != key:
                raise InvalidArchitectureError(
                    f"{self.name}: field {pos + 1} should be {key}=VALUE, got {_short(field)}",
                    position=pos, expected=key)
            texts = [str(v) for v in self.values[pos]]
            if value.strip() not in texts:
                raise InvalidArchitectureError(
                    f"{self.name}: {key}={_short(value)} is not one of the choices "
                    f"{', '.join(texts)}", position=pos, expected=", ".join(texts))
            tokens.append(self._offsets[pos] + texts.index(value.strip()))
        return self.from_tokens(tokens)

    def describe_position(self, pos: int) -> str | None:
        return f"decision {self.names[pos]!r}"

    def sample(self, rng) -> Assignment:
        """Uniform over the combinations the validity rule admits (rejection sampling)."""
        for _ in range(MAX_SAMPLE_TRIES):
            arch = self._arch_from_tokens(tuple(int(r[rng.integers(len(r))])
                                                for r in self._ranges))
            if self.valid is None or self.valid(arch):
                return arch
        raise ConfigError(f"{self.name}: the validity rule rejected {MAX_SAMPLE_TRIES} random "
                          "combinations in a row; it admits (almost) none")

    def assignment(self, values: Mapping[str, Any]) -> Assignment:
        """The architecture of a plain dict (every decision named once), checked."""
        return self.from_tokens(self.to_tokens(values))

    # ----- helpers --------------------------------------------------------------------------
    def _check_names(self, arch: Mapping[str, Any]) -> None:
        if not isinstance(arch, Mapping):
            raise InvalidArchitectureError(f"{self.name}: an architecture is a mapping of "
                                           f"{', '.join(self.names)}; got {_short(arch)}")
        missing = [k for k in self.names if k not in arch]
        extra = [k for k in arch if k not in self.names]
        if missing or extra:
            what = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                           extra and f"unknown {', '.join(map(str, extra))}"]))
            raise InvalidArchitectureError(f"{self.name}: {what} (decisions: "
                                           f"{', '.join(self.names)})")

    def _index_of(self, pos: int, value: Any) -> int | None:
        for i, option in enumerate(self.values[pos]):
            if option is value or _same(option, value):
                return i
        texts = [str(option) for option in self.values[pos]]  # e.g. numpy's 32 for int 32
        return texts.index(str(value)) if str(value) in texts else None

    def __repr__(self) -> str:
        return f"Choices({dict(zip(self.names, self.values, strict=True))!r})"


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind, so ``True`` is not taken for ``1``."""
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - a value whose == raises (an array) is not a match
        return False


def _check_text(what: str, text: Any, must_be_str: bool = False) -> None:
    if must_be_str and not isinstance(text, str):
        raise ConfigError(f"Choices: {what} must be a string")
    text = str(text)
    if not text.strip() or any(s in text for s in _SEPARATORS) or text != text.strip():
        raise ConfigError(f"Choices: {what} must be non-empty, without ',' or '=' and without "
                          "surrounding spaces (they write the architecture as name=value,...)")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
