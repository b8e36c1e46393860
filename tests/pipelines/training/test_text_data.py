"""Text corpora: PTB-style tokenizing, the KJV read through its reader (a fake one on PATH, and
the real one where Debian's packages are installed), book splits, the id cache, PTB files, the
stand-in, and BPTT batches."""

from __future__ import annotations

import os
import shutil
import stat
from collections import Counter
from pathlib import Path

import pytest
import torch

from nao.errors import ConfigError, DataError
from pipelines.training import text_data
from pipelines.training.text_data import (
    EOS,
    KJV_BOOKS,
    KJV_TEST_BOOKS,
    KJV_VALID_BOOKS,
    UNK,
    batchify,
    bptt_batches,
    load_text,
    n_bptt_batches,
    parse_kjv,
    split_kjv,
    tokenize,
)

CAT = shutil.which("cat")  # the fake reader runs with PATH holding only its own folder
FAKE_BOOKS = KJV_VALID_BOOKS + KJV_TEST_BOOKS + tuple(
    f"{n} Book" for n in range(KJV_BOOKS - len(KJV_VALID_BOOKS) - len(KJV_TEST_BOOKS)))


def marker(book: str) -> str:
    """A word only ``book``'s verses hold."""
    return "mark" + "".join(c for c in book.lower() if c.isalnum())


def fake_bible_text(books=FAKE_BOOKS) -> str:
    """What ``bible -l0`` prints, in miniature: a header per chapter, numbered verses."""
    lines = []
    for book in books:
        for chapter in (1, 2):
            lines += ["", f"{book} {chapter}", ""]
            lines += [f"  {v} And the {marker(book)} said, Go; the man's house: and common word."
                      for v in (1, 2, 3)]
    return "\n".join(lines) + "\n"


def install_reader(folder: Path, text: str | None = None, exit_code: int = 0) -> Path:
    """A ``bible`` script in ``folder`` printing ``text`` (a file beside it) and exiting with
    ``exit_code``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "out.txt").write_text(text if text is not None else fake_bible_text())
    script = folder / "bible"
    script.write_text(f"#!/bin/sh\n{CAT} '{folder / 'out.txt'}'\n"
                      + ("echo 'bible: cannot open data file' >&2\n" if exit_code else "")
                      + f"exit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture()
def fake_reader(tmp_path, monkeypatch) -> Path:
    folder = install_reader(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(folder))
    return folder


# ----- tokenizing --------------------------------------------------------------------------
def test_tokenize_lowercases_splits_off_s_drops_punctuation_and_marks_sentence_ends():
    words = tokenize("And the LORD's word came to Moses' brother, saying: Is it 42? Go-between!")
    assert words == ["and", "the", "lord", "'s", "word", "came", "to", "moses", "brother",
                     "saying", "is", "it", "N", EOS, "go-between", EOS]


# ----- the KJV through a (fake) reader ------------------------------------------------------
def test_kjv_splits_are_whole_books_in_bible_order():
    splits = split_kjv(parse_kjv(fake_bible_text()))
    for split, words in splits.items():
        held = {"valid": KJV_VALID_BOOKS, "test": KJV_TEST_BOOKS}.get(split)
        books = held or [b for b in FAKE_BOOKS if b not in KJV_VALID_BOOKS + KJV_TEST_BOOKS]
        seen = [w for w in words if w.startswith("mark")]
        # every verse of each of its books, in Bible order, and no other book's
        assert seen == [marker(b) for b in books for _ in range(6)], split
        assert words[-1] == EOS


def test_kjv_loads_the_book_splits_as_ids_and_records_them(fake_reader, tmp_path):
    data = load_text("kjv", data_dir=tmp_path / "cache")
    assert data.stats["tokens"]["valid"] == len(data.valid) == len(KJV_VALID_BOOKS) * 6 * 13
    assert data.stats["books"] == {"valid": list(KJV_VALID_BOOKS), "test": list(KJV_TEST_BOOKS)}
    assert data.words(data.valid[:13]) == ["and", "the", UNK, "said", "go", "the", "man", "'s",
                                           "house", "and", "common", "word", EOS]
    assert marker(FAKE_BOOKS[-1]) in data.words(data.train)


def test_kjv_maps_words_below_the_count_cut_to_unk_using_the_training_split_only(fake_reader,
                                                                                 tmp_path):
    data = load_text("kjv", data_dir=tmp_path / "cache", min_count=7)
    counts = Counter(data.words(data.train))
    assert UNK in data.vocab and "common" in data.vocab  # every verse has it
    assert not any(marker(b) in data.vocab for b in FAKE_BOOKS)  # 6 uses each, cut at 7
    assert data.stats["min_count"] == 7 and counts[UNK] > 0
    valid = data.words(data.valid)
    assert valid.count(UNK) == len(KJV_VALID_BOOKS) * 6  # the held-out markers


def test_kjv_second_read_comes_from_the_cache_with_identical_ids(fake_reader, tmp_path,
                                                                 monkeypatch):
    first = load_text("kjv", data_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("kjv-*.npz"))) == 1

    def no_tokenizing(text):
        raise AssertionError("the cached ids were not used")

    monkeypatch.setattr(text_data, "parse_kjv", no_tokenizing)
    second = load_text("kjv", data_dir=tmp_path / "cache")
    assert second.stats.get("cached") and not first.stats.get("cached")
    assert second.vocab == first.vocab
    for split in ("train", "valid", "test"):
        assert torch.equal(second.split(split), first.split(split))
        assert second.split(split).dtype == torch.int64


def test_kjv_cache_is_keyed_by_the_text_and_a_damaged_cache_is_rebuilt(fake_reader, tmp_path):
    cache = tmp_path / "cache"
    first = load_text("kjv", data_dir=cache)
    (path,) = cache.glob("kjv-*.npz")
    path.write_bytes(b"not an npz")
    assert torch.equal(load_text("kjv", data_dir=cache).train, first.train)
    install_reader(fake_reader, fake_bible_text().replace("common", "other"))
    changed = load_text("kjv", data_dir=cache)
    assert "other" in changed.vocab and "common" not in changed.vocab
    assert len(list(cache.glob("kjv-*.npz"))) == 2


def test_kjv_without_its_reader_is_one_line_naming_the_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no bible on PATH
    with pytest.raises(DataError) as info:
        load_text("kjv", data_dir=tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message and "apt-get install bible-kjv bible-kjv-text" in message
    assert "--data ptb --data-dir DIR" in message


@pytest.mark.parametrize("text, exit_code", [("", 0), (fake_bible_text(), 1),
                                             (fake_bible_text(FAKE_BOOKS[:10]), 0)])
def test_kjv_reader_without_its_data_is_one_line_naming_the_packages(tmp_path, monkeypatch,
                                                                     text, exit_code):
    monkeypatch.setenv("PATH", str(install_reader(tmp_path / "bin", text, exit_code)))
    with pytest.raises(DataError) as info:
        load_text("kjv", data_dir=tmp_path / "cache")
    assert "\n" not in str(info.value) and "bible-kjv-text" in str(info.value)
    assert not list((tmp_path / "cache").glob("*.npz"))


@pytest.mark.skipif(shutil.which("bible") is None or not Path("/usr/lib/bible.data").exists(),
                    reason="Debian's bible-kjv / bible-kjv-text are not installed")
def test_the_real_kjv_has_ptb_like_size_disjoint_book_splits_and_caches(tmp_path):
    data = load_text("kjv", data_dir=tmp_path)
    stats = data.stats
    assert 700_000 < stats["tokens_total"] < 1_000_000
    assert 11_000 < stats["types_total"] < 14_000
    assert 6_000 < data.vocab_size < 11_000
    n = {s: len(data.split(s)) for s in ("train", "valid", "test")}
    assert n["train"] > 8 * n["valid"] and 0.05 < n["test"] / sum(n.values()) < 0.12
    assert data.words(data.train[:9]) == ["in", "the", "beginning", "god", "created", "the",
                                          "heaven", "and", "the"]
    assert data.words(data.valid[:4]) == ["now", "after", "the", "death"]  # Joshua 1:1
    counts = Counter(data.words(data.train))
    assert min(counts[w] for w in data.vocab if w != UNK) >= text_data.MIN_COUNT
    again = load_text("kjv", data_dir=tmp_path)
    assert again.stats.get("cached") and torch.equal(again.test, data.test)


# ----- PTB files, the stand-in, options -----------------------------------------------------
def write_ptb(folder: Path, valid: str = "the cat sat\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ptb.train.txt").write_text(" the cat sat on the mat \n the dog <unk> N \n")
    (folder / "ptb.valid.txt").write_text(valid)
    (folder / "ptb.test.txt").write_text(" the mat \n")
    return folder


def test_ptb_reads_lines_as_sentences_with_the_training_words_as_vocabulary(tmp_path):
    data = load_text("ptb", data_dir=write_ptb(tmp_path, valid="the bird sat\n\n"))
    assert data.words(data.train) == ["the", "cat", "sat", "on", "the", "mat", EOS,
                                      "the", "dog", UNK, "N", EOS]
    assert data.words(data.valid) == ["the", UNK, "sat", EOS]  # "bird" is not a training word
    assert data.vocab[0] == "the" and len(data.vocab) == len(set(data.vocab)) == 9


def test_ptb_without_its_files_or_folder_is_a_one_line_error(tmp_path):
    folder = write_ptb(tmp_path)
    os.remove(folder / "ptb.test.txt")
    with pytest.raises(DataError, match=r"no ptb\.test\.txt in .*--data-dir DIR"):
        load_text("ptb", data_dir=folder)
    (folder / "ptb.test.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(DataError, match="not UTF-8"):
        load_text("ptb", data_dir=folder)
    with pytest.raises(ConfigError, match="--data ptb needs --data-dir"):
        load_text("ptb")


def test_unknown_corpus_and_ignored_data_dir_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="choose one of kjv, ptb, standin-text"):
        load_text("wikitext")
    with pytest.raises(ConfigError, match="takes no --data-dir"):
        load_text("standin-text", data_dir=tmp_path)


def test_the_standin_corpus_is_fixed_and_every_id_is_in_the_vocabulary():
    a, b = load_text("standin-text"), load_text("standin-text")
    assert a.vocab == b.vocab and torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    for split in (a.train, a.valid, a.test):
        assert split.dtype == torch.int64 and 0 <= int(split.min()) and int(split.max()) < len(a.vocab)
    assert EOS in a.vocab and UNK in a.vocab and len(a.train) > 5 * len(a.valid)


# ----- batches -----------------------------------------------------------------------------
def test_batchify_cuts_the_text_into_consecutive_streams_one_per_column():
    streams = batchify(torch.arange(23), 4)
    assert streams.shape == (5, 4)
    assert streams[:, 1].tolist() == [5, 6, 7, 8, 9]  # column j: words 5j .. 5j+4
    with pytest.raises(ConfigError, match="batch size of at most"):
        batchify(torch.arange(5), 4)


def test_bptt_segments_cover_each_stream_in_order_with_the_next_word_as_target():
    streams = batchify(torch.arange(40), 2)  # 20 rows
    segments = list(bptt_batches(streams, 6))
    assert len(segments) == n_bptt_batches(len(streams), 6) == 4  # 6 + 6 + 6 + 1 inputs
    assert [x.shape[0] for x, _ in segments] == [6, 6, 6, 1]
    xs = torch.cat([x for x, _ in segments])
    assert torch.equal(xs, streams[:-1])
    for x, y in segments:
        assert torch.equal(y, (x + 1).reshape(-1))  # the next word of every position, time major
