"""Text corpora for word-level language modelling, all offline, and their BPTT batches.

Every corpus comes back as three disjoint splits of word ids (1-D ``int64`` tensors) and the
vocabulary that names them, as Penn Treebank is used by ENAS, DARTS and NAO:

- ``kjv``: the King James Bible from Debian's ``bible-kjv-text``, printed by its reader
  ``bible`` (package ``bible-kjv``). Tokenized as Mikolov's PTB: lower case, punctuation removed
  except that ``'s`` is split off as its own token and a sentence end (``.``, ``?``, ``!``)
  becomes ``<eos>``, digits would be ``N`` (the KJV writes numbers out), hyphenated words kept
  whole; verse numbers and chapter headers dropped. Words seen fewer than :data:`MIN_COUNT`
  times in the training split are ``<unk>``. The splits are whole books
  (:data:`KJV_VALID_BOOKS`, :data:`KJV_TEST_BOOKS`, the rest is training), so no verse of a
  test book is ever trained on. The ids are cached (``npz``) under ``--data-dir`` or
  :data:`DEFAULT_CACHE_DIR`, keyed by a hash of the printed text and of these rules.
- ``ptb``: ``ptb.{train,valid,test}.txt`` from ``--data-dir`` (already tokenized: one sentence a
  line, ``<eos>`` added per line; the training words are the vocabulary).
- ``standin-text``: a small generated corpus for tests (a fixed random Markov chain over a few
  dozen words, so a model has something to learn in a few steps).

Batches follow truncated back-propagation through time: :func:`batchify` cuts a split into
``batch_size`` parallel streams (columns) and :func:`bptt_batches` walks them in order, ``seq_len``
steps at a time, so the hidden state at the end of one segment is the right start of the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nao.errors import ConfigError, DataError
from nao.validation import shown

TEXT_DATASETS = ("kjv", "ptb", "standin-text")
EOS = "<eos>"
UNK = "<unk>"
NUMBER = "N"  # PTB's token for every number
MIN_COUNT = 2  # a training word seen once is <unk>: KJV keeps ~8.3k words, near PTB's 10k
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "nao" / "data"
CACHE_FORMAT = 1  # bump when the tokenizer or the split rules change: old caches are not read

KJV_APT = "bible-kjv bible-kjv-text"
KJV_READER = "bible"
KJV_RANGE = "gen1:1-rev22:21"  # the whole Bible, Genesis 1:1 to Revelation 22:21
KJV_READER_TIMEOUT_S = 120
KJV_BOOKS = 66
# Whole books held out, Old and New Testament in each (~8% of the words each, as PTB's 73k/82k
# of 1.08M): validation is what a search scores on, test is reported once.
KJV_VALID_BOOKS = ("Joshua", "Judges", "Ruth", "Mark", "Romans")
KJV_TEST_BOOKS = ("Ezekiel", "Daniel", "John")

PTB_FILES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")

STANDIN_WORDS = 40  # word types of the generated corpus (plus <eos>)
STANDIN_SUCCESSORS = 3  # each word is followed by one of this many words
STANDIN_EOS_P = 0.08  # chance a sentence ends after a word
STANDIN_SIZES = (20000, 2000, 2000)  # train, valid, test tokens (about)
STANDIN_SEED = 4321  # the corpus is fixed: part of the data set, not of a run

SPLITS = ("train", "valid", "test")
_TOKEN = re.compile(r"'s\b|[a-z0-9]+(?:-[a-z0-9]+)*|[.?!]")
_VERSE = re.compile(r"^\s+\d+\s+(.*)$")
_SENTENCE_END = frozenset(".?!")


@dataclass(frozen=True)
class TextData:
    """Three splits of word ids and the vocabulary (``vocab[i]`` is word ``i``); ``stats``
    records how the corpus was made (tokens and types before the cut, the cut, ...)."""

    name: str
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    vocab: tuple[str, ...]
    stats: dict = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def split(self, name: str) -> torch.Tensor:
        if name not in SPLITS:
            raise ConfigError(f"unknown split {shown(name)}; choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def words(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """The words of ``ids`` (to read a split or a sample)."""
        return [self.vocab[int(i)] for i in ids]

    def summary(self) -> dict:
        return {"name": self.name, "train": len(self.train), "valid": len(self.valid),
                "test": len(self.test), "vocab": self.vocab_size}


# ----- options ---------------------------------------------------------------------------------
def check_text_options(name: str, data_dir: str | Path | None = None) -> str:
    """The checks that need no file, so a command can make them before it creates anything: an
    unknown name, or a ``--data-dir`` the corpus would ignore, is a one-line ConfigError."""
    if name not in TEXT_DATASETS:
        raise ConfigError(f"unknown text corpus {shown(name)}; choose one of "
                          f"{', '.join(TEXT_DATASETS)}")
    if name == "standin-text" and data_dir is not None:
        raise ConfigError("--data standin-text is generated and takes no --data-dir; drop "
                          "--data-dir, or use --data ptb --data-dir DIR")
    if name == "ptb" and data_dir is None:
        raise ConfigError(f"--data ptb needs --data-dir DIR holding {', '.join(PTB_FILES)}")
    return name


def load_text(name: str, data_dir: str | Path | None = None,
              min_count: int = MIN_COUNT) -> TextData:
    """Corpus ``name`` (one of :data:`TEXT_DATASETS`).

    ``data_dir``: for ``ptb`` the folder with its three files; for ``kjv`` where the token ids
    are cached (default :data:`DEFAULT_CACHE_DIR`). ``min_count`` is the KJV cut (PTB comes
    with its own). A missing corpus or reader is one :class:`DataError` saying what to install.
    """
    check_text_options(name, data_dir)
    if min_count < 1:
        raise ConfigError(f"min_count must be at least 1, got {min_count}")
    if name == "kjv":
        return _kjv(DEFAULT_CACHE_DIR if data_dir is None else Path(data_dir), min_count)
    if name == "ptb":
        return _ptb(Path(data_dir))
    return _standin_text()


# ----- vocabulary ------------------------------------------------------------------------------
def build_vocab(train_words: Sequence[str], min_count: int = 1) -> tuple[str, ...]:
    """Words of the training split seen at least ``min_count`` times, most frequent first (ties
    in alphabetical order, so the ids never depend on hashing), plus ``<unk>``."""
    counts = Counter(train_words)
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    if UNK not in kept:
        kept.append(UNK)
    return tuple(kept)


def encode(words: Sequence[str], vocab: Sequence[str]) -> np.ndarray:
    """Word ids, ``<unk>`` for a word outside ``vocab``."""
    index = {w: i for i, w in enumerate(vocab)}
    unk = index[UNK]
    return np.fromiter((index.get(w, unk) for w in words), dtype=np.int64, count=len(words))


def _make(name: str, splits: dict[str, list[str]], min_count: int, stats: dict) -> TextData:
    vocab = build_vocab(splits["train"], min_count)
    ids = {s: encode(splits[s], vocab) for s in SPLITS}
    unk = vocab.index(UNK)
    stats = {**stats,
             "tokens": {s: len(splits[s]) for s in SPLITS},
             "types_train": len(set(splits["train"])),
             "min_count": min_count,
             "vocab": len(vocab),
             "unk_rate": {s: round(float((ids[s] == unk).mean()), 5) if len(ids[s]) else 0.0
                          for s in SPLITS}}
    return TextData(name, *(torch.from_numpy(ids[s]) for s in SPLITS), vocab, stats)


# ----- King James Bible ------------------------------------------------------------------------
def _missing_kjv(what: str) -> DataError:
    return DataError(f"kjv: {what}; install Debian's {KJV_APT} (apt-get install {KJV_APT}), "
                     "or use another corpus: --data ptb --data-dir DIR")


def read_kjv_text() -> str:
    """The whole Bible as the reader prints it (chapter headers, numbered verses)."""
    reader = shutil.which(KJV_READER)
    if reader is None:
        raise _missing_kjv(f"the reader {KJV_READER!r} is not on PATH")
    try:
        done = subprocess.run([reader, "-l0", KJV_RANGE], capture_output=True, text=True,
                              timeout=KJV_READER_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise _missing_kjv(f"{reader} could not print the text ({type(err).__name__})") from None
    if done.returncode != 0 or not done.stdout.strip():
        why = done.stderr.strip().splitlines()[0][:120] if done.stderr.strip() else "no text"
        raise _missing_kjv(f"{reader} printed no text (exit {done.returncode}: {why!r})")
    return done.stdout


def tokenize(text: str) -> list[str]:
    """PTB-style words of one verse: lower case, ``'s`` split off, sentence ends as ``<eos>``,
    numbers as ``N``, every other punctuation mark dropped."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        if tok in _SENTENCE_END:
            out.append(EOS)
        elif tok.isdigit():
            out.append(NUMBER)
        else:
            out.append(tok)
    return out


def parse_kjv(text: str) -> dict[str, list[str]]:
    """Words per book, books in the reader's order: a header line (``1 Samuel 3``) names the
    book and chapter, an indented numbered line is a verse."""
    books: dict[str, list[str]] = {}
    book = None
    for line in text.splitlines():
        verse = _VERSE.match(line)
        if verse:
            if book is None:
                raise DataError("kjv: the reader printed a verse before any book header; the "
                                f"bible-kjv-text data is damaged, so reinstall {KJV_APT}")
            books[book] += tokenize(verse.group(1))
        elif line.strip():
            book = line.strip().rsplit(" ", 1)[0]
            books.setdefault(book, [])
    return books


def split_kjv(books: dict[str, list[str]]) -> dict[str, list[str]]:
    """Whole books to each split, each split in Bible order, each ending with ``<eos>``."""
    missing = [b for b in KJV_VALID_BOOKS + KJV_TEST_BOOKS if b not in books]
    if len(books) != KJV_BOOKS or missing:
        raise _missing_kjv(f"the reader printed {len(books)} books, not the {KJV_BOOKS} of the "
                           f"whole Bible{' (no ' + ', '.join(missing) + ')' if missing else ''}")
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for book, words in books.items():
        s = "valid" if book in KJV_VALID_BOOKS else "test" if book in KJV_TEST_BOOKS else "train"
        splits[s] += words
    for words in splits.values():
        if words and words[-1] != EOS:
            words.append(EOS)
    return splits


def _kjv(cache_dir: Path, min_count: int) -> TextData:
    text = read_kjv_text()
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, min_count, KJV_VALID_BOOKS, KJV_TEST_BOOKS])
                         .encode() + text.encode()).hexdigest()[:20]
    path = cache_dir / f"kjv-{key}.npz"
    cached = _read_cache(path, "kjv")
    if cached is not None:
        return cached
    books = parse_kjv(text)
    words = [w for ws in books.values() for w in ws]
    stats = {"books": {s: [b for b in books if _split_of(b) == s] for s in ("valid", "test")},
             "tokens_total": len(words), "types_total": len(set(words))}
    data = _make("kjv", split_kjv(books), min_count, stats)
    _write_cache(path, data)
    return data


def _split_of(book: str) -> str:
    return "valid" if book in KJV_VALID_BOOKS else "test" if book in KJV_TEST_BOOKS else "train"


# ----- cache -----------------------------------------------------------------------------------
def _read_cache(path: Path, name: str) -> TextData | None:
    """The cached corpus, or ``None`` when there is none or it cannot be read (it is rebuilt:
    a cache is ours to throw away, never a reason to stop)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as blob:
            splits = [torch.from_numpy(blob[s].astype(np.int64)) for s in SPLITS]
            vocab = tuple(str(w) for w in blob["vocab"])
            stats = json.loads(str(blob["stats"]))
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if any(len(s) and (int(s.min()) < 0 or int(s.max()) >= len(vocab)) for s in splits):
        return None
    return TextData(name, *splits, vocab, {**stats, "cached": True})


def _write_cache(path: Path, data: TextData) -> None:
    """Write the ids next to their final name and rename (a reader never sees half a file); a
    cache dir that cannot be written only costs the next run the tokenizing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kjv-", suffix=".npz")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{s: data.split(s).numpy().astype(np.int32) for s in SPLITS},
                     vocab=np.array(data.vocab), stats=np.array(json.dumps(data.stats)))
        os.replace(tmp, path)
    except OSError:
        return


# ----- Penn Treebank ---------------------------------------------------------------------------
def _ptb(folder: Path) -> TextData:
    missing = [f for f in PTB_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(f"ptb: no {', '.join(missing)} in {folder}; pass --data-dir DIR holding "
                        f"{', '.join(PTB_FILES)} (Mikolov's simple-examples/data), or use "
                        "--data kjv")
    splits = {}
    for split, file in zip(SPLITS, PTB_FILES, strict=True):
        path = folder / file
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataError(f"{path} is not UTF-8 text; replace it with Penn Treebank's "
                            f"{file}") from None
        except OSError as err:
            raise DataError(f"cannot read {path}: {err.strerror}") from None
        words = [w for line in lines if line.split() for w in [*line.split(), EOS]]
        if not words:
            raise DataError(f"{path} holds no words; replace it with Penn Treebank's {file}")
        splits[split] = words
    types = set(splits["train"])
    return _make("ptb", splits, 1, {"tokens_total": sum(len(w) for w in splits.values()),
                                    "types_total": len(types.union(*map(set, splits.values())))})


# ----- generated stand-in ----------------------------------------------------------------------
def _standin_text() -> TextData:
    """A fixed Markov chain: each word has :data:`STANDIN_SUCCESSORS` likely followers and a
    sentence ends with probability :data:`STANDIN_EOS_P`; the three splits are three fixed
    samples of it."""
    rng = np.random.default_rng(STANDIN_SEED)
    words = [f"w{i}" for i in range(STANDIN_WORDS)]
    follow = np.stack([rng.choice(STANDIN_WORDS, STANDIN_SUCCESSORS, replace=False)
                       for _ in range(STANDIN_WORDS)])

    def sample(n: int) -> list[str]:
        out, w = [], int(rng.integers(STANDIN_WORDS))
        while len(out) < n:
            out.append(words[w])
            if rng.random() < STANDIN_EOS_P:
                out.append(EOS)
                w = int(rng.integers(STANDIN_WORDS))
            else:
                w = int(follow[w, rng.integers(STANDIN_SUCCESSORS)])
        return out + [EOS]

    splits = {s: sample(n) for s, n in zip(SPLITS, STANDIN_SIZES, strict=True)}
    return _make("standin-text", splits, 1, {"tokens_total": sum(map(len, splits.values()))})


# ----- batches ---------------------------------------------------------------------------------
def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``ids`` cut into ``batch_size`` consecutive streams, one per column (``L x batch_size``);
    the few words that do not fill a row are dropped, as every PTB language model does."""
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    rows = len(ids) // batch_size
    if rows < 2:
        raise ConfigError(f"a split of {len(ids)} words cannot feed {batch_size} streams of at "
                          f"least 2 words; use a batch size of at most {max(1, len(ids) // 2)}")
    return ids[: rows * batch_size].view(batch_size, rows).t().contiguous()


def n_bptt_batches(rows: int, seq_len: int) -> int:
    """Segments of a batchified split with ``rows`` rows (the last may be shorter)."""
    if seq_len < 1:
        raise ConfigError(f"sequence length (bptt) must be at least 1, got {seq_len}")
    return -(-(rows - 1) // seq_len)


def bptt_batches(streams: torch.Tensor, seq_len: int,
                 device: torch.device | str = "cpu") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` segments in text order: ``x`` is ``T x B`` word ids, ``y`` the next word of
    each, flattened to ``T * B`` (time major, as the model's flattened logits)."""
    for i in range(n_bptt_batches(len(streams), seq_len)):
        t = min(seq_len, len(streams) - 1 - i * seq_len)
        start = i * seq_len
        x = streams[start:start + t]
        y = streams[start + 1:start + 1 + t].reshape(-1)
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
