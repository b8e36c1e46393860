"""Data sets: disjoint seed-fixed splits, the idx reader, one-line errors, batch augmentation."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from support import FAKE_SIZE, N_FAKE_TEST, N_FAKE_TRAIN, make_fake_fashion, write_idx

from nao.errors import ConfigError, DataError
from pipelines.training import data as data_mod
from pipelines.training.data import (
    FASHION_FILES,
    FASHION_MNIST_DIR,
    Augmentation,
    augment_batch,
    batches,
    cutout_batch,
    load_data,
    read_idx,
)


def _rows(split) -> list[tuple]:
    pairs = zip(split.images, split.labels, strict=True)
    return [(img.numpy().tobytes(), int(lab)) for img, lab in pairs]


def test_digits_splits_partition_the_1797_images_and_seed_fixes_them():
    a, b, c = load_data("digits", seed=0), load_data("digits", seed=0), load_data("digits", seed=1)
    from sklearn.datasets import load_digits

    assert len(a.train) + len(a.valid) + len(a.test) == len(load_digits().target)
    original = sorted(_rows(a.train + a.valid + a.test))
    assert sorted(_rows(c.train + c.valid + c.test)) == original  # a partition for any seed
    assert torch.equal(a.valid.images, b.valid.images)  # the seed fixes the split
    assert not torch.equal(a.valid.images, c.valid.images)  # another seed, another valid split
    assert torch.equal(a.test.images, c.test.images)  # test never depends on the seed
    assert (a.num_classes, a.in_channels, a.image_size) == (10, 1, (8, 8))
    assert not a.augmentation.flip  # mirrored digits are not digits


def test_fashion_reader_reads_generated_idx_gz_and_carves_valid_from_train(tmp_path):
    make_fake_fashion(tmp_path)
    data = load_data("fashion-mnist", seed=3, data_dir=tmp_path, valid_size=10)
    assert (len(data.train), len(data.valid), len(data.test)) == (30, 10, N_FAKE_TEST)
    assert data.in_channels == 1 and data.image_size == (FAKE_SIZE, FAKE_SIZE)
    ids = sorted(int(img[0, 1, 1]) for img in (data.train + data.valid).images)
    assert ids == list(range(N_FAKE_TRAIN))  # train + valid = the official train set, once each
    assert bool((data.test.images[:, 0, 0, 0] == 2).all())  # test = the official test files
    again = load_data("fashion-mnist", seed=3, data_dir=tmp_path, valid_size=10)
    assert torch.equal(again.valid.images, data.valid.images)


def test_fashion_reader_finds_torchvision_layout_and_uncompressed_files(tmp_path):
    make_fake_fashion(tmp_path / "FashionMNIST" / "raw", gz=False)
    data = load_data("fashion-mnist", data_dir=tmp_path, valid_size=5)
    assert len(data.train) + len(data.valid) == N_FAKE_TRAIN


@pytest.mark.skipif(not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package():
    data = load_data("fashion-mnist")
    assert (len(data.train), len(data.valid), len(data.test)) == (55000, 5000, 10000)
    assert data.image_size == (28, 28) and data.num_classes == 10


def test_missing_fashion_dir_is_one_line_saying_where_and_how(tmp_path):
    with pytest.raises(DataError) as err:
        load_data("fashion-mnist", data_dir=tmp_path / "nowhere")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere") in message and "FashionMNIST/raw" in message
    assert "dataset-fashion-mnist" in message and "--data-dir" in message


def test_missing_default_fashion_dir_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_data("fashion-mnist")


def _one_line_error(error: type[Exception], call, *names: object) -> str:
    """The message of the ``error`` that ``call`` raises: one line naming each of ``names``."""
    with pytest.raises(error) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    for name in names:
        assert str(name) in message
    return message


def test_truncated_gz_idx_file_is_a_data_error_naming_the_file(tmp_path):
    make_fake_fashion(tmp_path)
    path = tmp_path / (FASHION_FILES["train_images"] + ".gz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a download cut short
    with gzip.open(path) as fh, pytest.raises(EOFError):
        fh.read()  # what the gzip module alone does with it
    message = _one_line_error(DataError, lambda: load_data("fashion-mnist", data_dir=tmp_path),
                              path)
    assert "truncated" in message


def test_gz_file_with_corrupt_deflate_data_is_a_data_error(tmp_path):
    make_fake_fashion(tmp_path)
    path = tmp_path / (FASHION_FILES["train_labels"] + ".gz")
    raw = bytearray(path.read_bytes())
    raw[12:-8] = bytes(b ^ 0xFF for b in raw[12:-8])  # keep the gzip header, garble the stream
    path.write_bytes(bytes(raw))
    _one_line_error(DataError, lambda: load_data("fashion-mnist", data_dir=tmp_path), path)


@pytest.mark.parametrize("part", ["train", "test"])
def test_labels_outside_the_ten_classes_are_refused_at_load_naming_file_and_range(tmp_path,
                                                                                   part):
    make_fake_fashion(tmp_path)
    path = tmp_path / (FASHION_FILES[f"{part}_labels"] + ".gz")
    n = N_FAKE_TRAIN if part == "train" else N_FAKE_TEST
    labels = np.arange(n) % 10
    labels[3] = 12
    write_idx(path, labels)
    message = _one_line_error(DataError, lambda: load_data("fashion-mnist", data_dir=tmp_path),
                              path, "0 to 12", "10 classes")
    assert "0 to 9" in message


@pytest.mark.parametrize("part, n_images, n_labels", [("train", N_FAKE_TRAIN, N_FAKE_TRAIN - 1),
                                                      ("test", N_FAKE_TEST - 2, N_FAKE_TEST)])
def test_image_count_differing_from_label_count_names_both_files(tmp_path, part, n_images,
                                                                 n_labels):
    make_fake_fashion(tmp_path)
    images = tmp_path / (FASHION_FILES[f"{part}_images"] + ".gz")
    labels = tmp_path / (FASHION_FILES[f"{part}_labels"] + ".gz")
    write_idx(images, np.zeros((n_images, FAKE_SIZE, FAKE_SIZE)))
    write_idx(labels, np.zeros(n_labels))
    _one_line_error(DataError, lambda: load_data("fashion-mnist", data_dir=tmp_path),
                    images, labels, f"{n_images} images", f"{n_labels} labels")


def test_test_images_of_another_size_than_train_images_are_a_data_error(tmp_path):
    make_fake_fashion(tmp_path)
    path = tmp_path / (FASHION_FILES["test_images"] + ".gz")
    write_idx(path, np.zeros((N_FAKE_TEST, FAKE_SIZE - 1, FAKE_SIZE)))
    _one_line_error(DataError, lambda: load_data("fashion-mnist", data_dir=tmp_path), path,
                    f"{FAKE_SIZE - 1}x{FAKE_SIZE}", f"{FAKE_SIZE}x{FAKE_SIZE}")


def test_swapped_images_and_labels_files_are_a_data_error(tmp_path):
    make_fake_fashion(tmp_path)
    images = tmp_path / (FASHION_FILES["train_images"] + ".gz")
    labels = tmp_path / (FASHION_FILES["train_labels"] + ".gz")
    images_bytes = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(images_bytes)
    _one_line_error(DataError, lambda: load_data("fashion-mnist", data_dir=tmp_path), images,
                    "swapped")


def test_empty_idx_files_are_a_data_error_not_a_valid_size_complaint(tmp_path):
    make_fake_fashion(tmp_path)
    write_idx(tmp_path / (FASHION_FILES["train_images"] + ".gz"), np.zeros((0, FAKE_SIZE,
                                                                            FAKE_SIZE)))
    write_idx(tmp_path / (FASHION_FILES["train_labels"] + ".gz"), np.zeros(0))
    _one_line_error(DataError, lambda: load_data("fashion-mnist", data_dir=tmp_path),
                    FASHION_FILES["train_images"], "no images")


@pytest.mark.parametrize("raw, message", [
    (b"", "too short"),
    (b"\x00\x00\x08", "too short"),
    (struct.pack(">I", 2051) + b"\x00" * 6, "header is cut short"),
    (struct.pack(">II", 0x0D03, 1) + b"\x00" * 8, "magic 0x00000d03"),  # float64, not uint8
    (struct.pack(">II", 0x0802, 1) + b"\x00" * 4, "magic 0x00000802"),  # 2-D: neither kind
    (struct.pack(">IIII", 2051, 2, 2, 2) + b"\x00" * 9, "holds 9 values"),  # one byte too many
])
def test_malformed_idx_headers_are_one_line_data_errors(tmp_path, raw, message):
    path = tmp_path / "file-idx"
    path.write_bytes(raw)
    _one_line_error(DataError, lambda: read_idx(path), path, message)


def test_idx_header_whose_sizes_overflow_int64_is_not_taken_for_its_data(tmp_path):
    path = tmp_path / "huge"
    dims = (2**31, 2**31, 4)  # product 2**64: wraps to 0 in int64, which the empty data matches
    path.write_bytes(struct.pack(">IIII", 2051, *dims))
    _one_line_error(DataError, lambda: read_idx(path), path, "holds 0 values")


@pytest.mark.parametrize("name", ["digits", "standin", "standin:1x8x8"])
def test_data_dir_for_a_data_set_without_files_is_a_config_error(name, tmp_path):
    message = _one_line_error(ConfigError, lambda: load_data(name, data_dir=tmp_path),
                              "takes no --data-dir")
    if name == "digits":
        assert "scikit-learn" in message


@pytest.mark.parametrize("name", ["digits", "fashion-mnist", "standin"])
def test_download_for_a_data_set_that_cannot_be_downloaded_is_a_config_error(name):
    _one_line_error(ConfigError, lambda: load_data(name, download=True), "only fetches CIFAR",
                    name)


def test_cifar_labels_outside_its_classes_are_refused_at_load(tmp_path, cifar_md5_relaxed):
    import pickle

    _write_cifar(tmp_path, "cifar10", n_train=10, n_test=4)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    content = pickle.loads(batch.read_bytes())
    content["labels"][0] = 10
    batch.write_bytes(pickle.dumps(content))
    _one_line_error(DataError, lambda: load_data("cifar10", data_dir=tmp_path), tmp_path,
                    "to 10,", "10 classes")


def test_bad_idx_files_are_data_errors(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write(b"\x00\x00\x09\x03" + b"\x00" * 12)
    with pytest.raises(DataError, match="not an idx"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(struct.pack(">IIII", 2051, 5, 2, 2) + b"\x00" * 3)
    with pytest.raises(DataError, match="truncated"):
        read_idx(short)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_needs_data_dir_or_download_and_never_downloads_by_itself(name, tmp_path):
    with pytest.raises(DataError, match="--download"):
        load_data(name)
    with pytest.raises(DataError, match=str(tmp_path)):
        load_data(name, data_dir=tmp_path)  # empty dir, no --download: no network access


def test_cifar_reads_torchvision_data_and_passes_download(monkeypatch, tmp_path):
    calls = []

    class FakeCIFAR:
        classes = list(range(10))

        def __init__(self, root, train, download):
            calls.append((root, train, download))
            n = 30 if train else 8
            self.data = np.zeros((n, 32, 32, 3), dtype=np.uint8)
            self.targets = list(np.arange(n) % 10)

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR)
    data = load_data("cifar10", data_dir=tmp_path, download=True, valid_size=5)
    assert (len(data.train), len(data.valid), len(data.test)) == (25, 5, 8)
    assert data.in_channels == 3 and data.augmentation.flip and data.augmentation.cutout == 16
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]


def test_standin_shape_and_bad_names():
    data = load_data("standin:2x6x5")
    assert (data.in_channels, data.image_size) == (2, (6, 5))
    assert load_data("standin").image_size == (32, 32)  # CIFAR-like by default
    with pytest.raises(ConfigError, match="CxHxW"):
        load_data("standin:3x32")
    with pytest.raises(ConfigError, match="unknown data set"):
        load_data("mnist")
    with pytest.raises(ConfigError, match="takes no"):
        load_data("digits:8x8")


def test_standin_is_learnable_by_nearest_class_mean():
    data = load_data("standin:1x8x8")
    x = data.train.images.float().flatten(1)
    means = torch.stack([x[data.train.labels == k].mean(0) for k in range(data.num_classes)])
    test = data.test.images.float().flatten(1)
    predicted = torch.cdist(test, means).argmin(1)
    assert float((predicted == data.test.labels).float().mean()) > 0.8


def test_batches_are_normalized_deterministic_and_cover_the_split():
    data = load_data("digits")

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return list(batches(data, data.train, 100, shuffle=True, augment=True, cutout=2,
                            generator=g))

    first, second = run(0), run(0)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second, strict=True))
    assert sum(len(y) for _, y in first) == len(data.train)
    plain = torch.cat([x for x, _ in batches(data, data.train, 500)])
    assert abs(float(plain.mean())) < 0.05 and abs(float(plain.std()) - 1) < 0.05
    assert len(list(batches(data, data.train, 100, drop_last=True))) == len(data.train) // 100
    with pytest.raises(ConfigError):
        next(batches(data, data.train, 0))


def _shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``image`` (H x W) moved by (dy, dx) pixels, zero where it moved away from."""
    h, w = image.shape
    out = torch.zeros_like(image)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_crop_shifts_within_padding_and_flip_only_when_allowed():
    x = (torch.arange(16.0) + 1).view(1, 1, 4, 4).repeat(64, 1, 1, 1)  # 0 only where padded
    g = torch.Generator().manual_seed(0)
    cropped = augment_batch(x, Augmentation(pad=1), g)
    assert cropped.shape == x.shape
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    seen = set()
    for image in cropped[:, 0]:
        moves = [s for s in shifts if torch.equal(image, _shifted(x[0, 0], *s))]
        assert len(moves) == 1  # each image is the original moved by at most pad, zero-filled
        seen.add(moves[0])
    assert len(seen) == len(shifts)  # every shift within the padding occurs in 64 images
    unflipped = augment_batch(x, Augmentation(pad=0, flip=False), g)
    assert torch.equal(unflipped, x)
    flipped = augment_batch(x, Augmentation(pad=0, flip=True), g)
    mirrored = (flipped == x.flip(-1)).flatten(1).all(1)
    assert 0 < int(mirrored.sum()) < 64


def test_cutout_zeroes_one_square_of_the_given_side():
    x = torch.ones(50, 2, 12, 12)
    out = cutout_batch(x, 4, torch.Generator().manual_seed(1))
    holes = (out[:, 0] == 0).sum(dim=(1, 2))
    assert int(holes.max()) == 16 and int(holes.min()) >= 4  # clipped at borders
    assert torch.equal(out[:, 0], out[:, 1])  # the same hole in every channel


def test_default_valid_split_is_5000_or_a_tenth_of_a_small_training_set(tmp_path):
    make_fake_fashion(tmp_path)
    data = load_data("fashion-mnist", data_dir=tmp_path)
    assert len(data.valid) == N_FAKE_TRAIN // 10


def test_train_size_keeps_a_seed_fixed_subset_and_leaves_valid_and_test_whole():
    full = load_data("digits", seed=2)
    small = load_data("digits", seed=2, train_size=100)
    assert len(small.train) == 100
    assert torch.equal(small.valid.images, full.valid.images)
    assert torch.equal(small.test.images, full.test.images)
    assert set(_rows(small.train)) <= set(_rows(full.train))
    assert torch.equal(load_data("digits", seed=2, train_size=100).train.images,
                       small.train.images)
    assert len(load_data("digits", train_size=10**6).train) == len(full.train)
    with pytest.raises(ConfigError):
        load_data("digits", train_size=0)


def _write_cifar(root: Path, family: str, n_train: int, n_test: int) -> tuple[np.ndarray, list]:
    """torchvision's python-pickle CIFAR layout, small: returns the train images (N, 3072) and
    labels written, so a test can check the pixels came through in the right order."""
    import pickle

    rng = np.random.default_rng(0)
    classes = 10 if family == "cifar10" else 100
    folder = root / ("cifar-10-batches-py" if family == "cifar10" else "cifar-100-python")
    folder.mkdir(parents=True)
    label_key = "labels" if family == "cifar10" else "fine_labels"
    train_x = rng.integers(0, 256, (n_train, 3 * 32 * 32), dtype=np.uint8)
    train_y = [int(v) for v in rng.integers(0, classes, n_train)]
    test_x = rng.integers(0, 256, (n_test, 3 * 32 * 32), dtype=np.uint8)
    test_y = [int(v) for v in rng.integers(0, classes, n_test)]
    if family == "cifar10":
        parts = np.array_split(np.arange(n_train), 5)
        files = {f"data_batch_{i + 1}": idx for i, idx in enumerate(parts)}
        for name, idx in files.items():
            batch = {"data": train_x[idx], label_key: [train_y[i] for i in idx]}
            (folder / name).write_bytes(pickle.dumps(batch))
        (folder / "test_batch").write_bytes(pickle.dumps({"data": test_x, label_key: test_y}))
        meta = ("batches.meta", {"label_names": [f"c{k}" for k in range(classes)]})
    else:
        (folder / "train").write_bytes(pickle.dumps({"data": train_x, label_key: train_y}))
        (folder / "test").write_bytes(pickle.dumps({"data": test_x, label_key: test_y}))
        meta = ("meta", {"fine_label_names": [f"c{k}" for k in range(classes)]})
    (folder / meta[0]).write_bytes(pickle.dumps(meta[1]))
    return train_x, train_y


@pytest.fixture
def cifar_md5_relaxed(monkeypatch):
    """torchvision's own CIFAR reader with its md5 check reduced to "the file exists": generated
    files cannot match CIFAR's checksums; everything else is torchvision's real parsing."""
    import os

    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_files_on_disk_are_read_by_torchvision_in_channel_first_order(name, tmp_path,
                                                                           cifar_md5_relaxed):
    """Every generated image and label of torchvision's on-disk format arrives, channels first."""
    train_x, train_y = _write_cifar(tmp_path, name, n_train=30, n_test=8)
    data = load_data(name, data_dir=tmp_path, valid_size=6)
    assert data.num_classes == (10 if name == "cifar10" else 100)
    assert (len(data.train), len(data.valid), len(data.test)) == (24, 6, 8)
    assert data.in_channels == 3 and data.image_size == (32, 32)
    written = {(bytes(x), y) for x, y in zip(train_x, train_y, strict=True)}
    read = {(bytes(split.images[i].numpy().reshape(-1)), int(split.labels[i]))
            for split in (data.train, data.valid) for i in range(len(split))}
    assert read == written  # CIFAR rows are R plane, G plane, B plane: CHW order as stored


def test_cifar_with_a_file_missing_is_a_one_line_error(tmp_path, cifar_md5_relaxed):
    _write_cifar(tmp_path, "cifar10", n_train=10, n_test=4)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="not found .or corrupt. in " + str(tmp_path)):
        load_data("cifar10", data_dir=tmp_path)


@pytest.mark.parametrize("name, kwargs, error", [
    ("mnist", {}, "unknown data set"),
    ("digits:8x8", {}, "takes no ':'"),
    ("standin:3x0x4", {}, "CxHxW"),
    ("digits", {"data_dir": "/nowhere"}, "takes no --data-dir"),
    ("fashion-mnist", {"download": True}, "only fetches CIFAR"),
])
def test_data_options_are_checked_without_touching_a_file(name, kwargs, error, monkeypatch):
    def no_files(*args, **kwargs):
        raise AssertionError("a data file was read")

    monkeypatch.setattr(data_mod, "read_idx", no_files)
    monkeypatch.setattr(data_mod, "_digits", no_files)
    with pytest.raises(ConfigError, match=error):
        data_mod.check_data_options(name, **kwargs)
    with pytest.raises(ConfigError, match=error):
        load_data(name, **kwargs)  # load_data runs the same checks first
    assert data_mod.check_data_options("standin:1x2x3") == ("standin", "1x2x3")
