"""Image datasets for weight-sharing search and final training, all offline.

Every dataset comes back as three disjoint splits held in memory as uint8 tensors
(``N x C x H x W``): ``train`` (shared weights / final training), ``valid`` (what a search scores
architectures on) and ``test`` (reported once, never searched on). The test split never depends on
the run's seed (the official test set, or a fixed hold-out for digits), so a search with any seed
cannot have seen it; the validation split is carved from the training data by the seed.

Augmentation is done on whole batches of tensors (no per-image PIL work): random crop after
zero padding, horizontal flip where a mirrored image keeps its label (CIFAR photos, Fashion-MNIST
clothes; not digits, whose mirror images are not digits, nor the stand-in, whose class patterns
are not symmetric), and cutout (DeVries & Taylor 2017) for final training only.
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nao.errors import ConfigError, DataError
from nao.validation import shown

DATASETS = ("digits", "fashion-mnist", "cifar10", "cifar100", "standin")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_MNIST_APT = "dataset-fashion-mnist"
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DEFAULT_DOWNLOAD_DIR = Path.home() / ".cache" / "nao" / "data"  # CIFAR with --download only
VALID_SIZE = 5000  # NAO and ENAS hold out 5,000 CIFAR-10 training images as the dev set
VALID_FRACTION = 0.1  # ... which is a tenth; smaller training sets (fakes in tests) hold out that
DIGITS_TEST_FRACTION = 0.2  # sklearn digits has no official split
DIGITS_VALID_FRACTION = 0.2
TEST_SPLIT_SEED = 0  # fixed: the digits test hold-out is the same for every run seed
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
PIXEL_MAX = 255
DIGITS_PIXEL_MAX = 16

FASHION_CLASSES = 10
BUILTIN_DATASETS = {  # data sets that read no files: why they take no --data-dir
    "digits": "ships with scikit-learn",
    "standin": "is generated",
}
DOWNLOADABLE = ("cifar10", "cifar100")

STANDIN_SHAPE = (3, 32, 32)  # CIFAR-like
STANDIN_MAX_VALUES = 3 * 256 * 256  # C*H*W of the largest stand-in image (memory stays < 1 GB)
STANDIN_CLASSES = 10
STANDIN_SIZES = (500, 200, 200)  # train, valid, test
STANDIN_PATTERN_GRID = 4  # class patterns are smooth: a 4x4 grid upsampled, so crops keep them
STANDIN_CONTRAST = 0.35
STANDIN_NOISE = 0.15
STANDIN_PATTERN_SEED = 12345  # class patterns are part of the data set, not of the run


@dataclass(frozen=True)
class Augmentation:
    """Per-dataset training augmentation; ``cutout`` is the square's side for final training."""

    pad: int = 0
    flip: bool = False
    cutout: int = 0


AUGMENTATION = {
    "digits": Augmentation(pad=1, flip=False, cutout=2),
    "fashion-mnist": Augmentation(pad=2, flip=True, cutout=8),
    "cifar10": Augmentation(pad=4, flip=True, cutout=16),  # the NAO / DARTS settings
    "cifar100": Augmentation(pad=4, flip=True, cutout=16),
    "standin": Augmentation(pad=2, flip=False, cutout=8),
}


@dataclass(frozen=True)
class Split:
    """Images as uint8 ``N x C x H x W`` and integer labels."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __add__(self, other: Split) -> Split:
        return Split(torch.cat([self.images, other.images]), torch.cat([self.labels, other.labels]))


@dataclass(frozen=True)
class ImageData:
    """Three disjoint splits and what a network and a loader need to know about them."""

    name: str
    train: Split
    valid: Split
    test: Split
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augmentation: Augmentation

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train.images.shape[2]), int(self.train.images.shape[3])

    def summary(self) -> dict:
        return {"name": self.name, "train": len(self.train), "valid": len(self.valid),
                "test": len(self.test), "num_classes": self.num_classes,
                "shape": [self.in_channels, *self.image_size]}


# ----- loading ---------------------------------------------------------------------------------
def load_data(name: str, seed: int = 0, data_dir: str | Path | None = None,
              download: bool = False, valid_size: int | None = None,
              train_size: int | None = None) -> ImageData:
    """Dataset ``name`` (one of :data:`DATASETS`; ``standin:CxHxW`` picks the stand-in's shape).

    ``seed`` fixes which training images form the validation split; the test split is the same
    for every seed. ``valid_size`` defaults to :data:`VALID_SIZE` images, or a tenth of a smaller
    training set. ``train_size`` keeps that many training images (a seed-fixed random subset, for
    quick runs on a CPU); validation and test are unchanged. A missing file is one
    :class:`DataError` saying where we looked and how to get the data.
    """
    family, arg = check_data_options(name, data_dir, download)
    if family == "digits":
        train, valid, test, classes = _digits(seed)
    elif family == "fashion-mnist":
        full, test = _fashion_mnist(data_dir)
        train, valid = _carve(full, valid_size, seed)
        classes = FASHION_CLASSES
    elif family in ("cifar10", "cifar100"):
        full, test, classes = _cifar(family, data_dir, download)
        train, valid = _carve(full, valid_size, seed)
    else:
        train, valid, test, classes = _standin(_standin_shape(arg), seed)
    if train_size is not None:
        train = _subset(train, train_size, seed)
    mean, std = _channel_stats(train)
    return ImageData(family if family != "standin" else name, train, valid, test, classes,
                     mean, std, AUGMENTATION[family])


def check_data_options(name: str, data_dir: str | Path | None = None,
                       download: bool = False) -> tuple[str, str]:
    """``name``'s family and ``:`` option, after the checks that need no file, so a command can
    call this before it creates anything: a ConfigError for an unknown name, a misplaced or bad
    option, or a file option the data set would silently ignore."""
    family, _, arg = name.partition(":")
    if family not in DATASETS:
        raise ConfigError(f"unknown data set {shown(name)}; choose one of {', '.join(DATASETS)}")
    if arg and family != "standin":
        raise ConfigError(f"data set {family} takes no ':' option (only standin:CxHxW does)")
    if family == "standin":
        _standin_shape(arg)
    _check_file_options(family, data_dir, download)
    return family, arg


def _check_file_options(family: str, data_dir: str | Path | None, download: bool) -> None:
    """Refuse file options a data set would silently ignore, so a user never trains on other data
    than the files they named."""
    if data_dir is not None and family in BUILTIN_DATASETS:
        raise ConfigError(f"--data {family} {BUILTIN_DATASETS[family]} and takes no --data-dir; "
                          "drop --data-dir, or pick a data set read from files "
                          "(fashion-mnist, cifar10, cifar100)")
    if download and family not in DOWNLOADABLE:
        raise ConfigError(f"--download only fetches CIFAR (cifar10, cifar100); drop it for "
                          f"--data {family}")


def _check_labels(split: Split, classes: int, source: str | Path) -> None:
    """Every label names one of the data set's classes, checked at load time rather than as an
    IndexError deep inside the loss, mid-training."""
    if len(split) == 0:
        return
    low, high = int(split.labels.min()), int(split.labels.max())
    if low < 0 or high >= classes:
        raise DataError(f"{source}: labels range from {low} to {high}, but this data set has "
                        f"{classes} classes (0 to {classes - 1}); the file is corrupt or not "
                        "this data set's labels, so replace it")


def _carve(full: Split, valid_size: int | None, seed: int) -> tuple[Split, Split]:
    """Hold ``valid_size`` random training images out as the validation split."""
    if valid_size is None:
        valid_size = min(VALID_SIZE, max(1, round(VALID_FRACTION * len(full))))
    if not 0 < valid_size < len(full):
        raise ConfigError(f"valid_size must be between 1 and {len(full) - 1}, got {valid_size}")
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(full)))
    v, t = order[:valid_size], order[valid_size:]
    return Split(full.images[t], full.labels[t]), Split(full.images[v], full.labels[v])


def _subset(split: Split, size: int, seed: int) -> Split:
    if size < 1:
        raise ConfigError(f"train size must be at least 1, got {size}")
    if size >= len(split):
        return split
    keep = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(split))[:size]))
    return Split(split.images[keep], split.labels[keep])


def _digits(seed: int) -> tuple[Split, Split, Split, int]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    pixels = np.rint(bunch.images * (PIXEL_MAX / DIGITS_PIXEL_MAX)).astype(np.uint8)
    images = torch.from_numpy(pixels).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=DIGITS_TEST_FRACTION, random_state=TEST_SPLIT_SEED,
                                  stratify=bunch.target)
    valid_of_rest = DIGITS_VALID_FRACTION / (1 - DIGITS_TEST_FRACTION)
    train, valid = train_test_split(rest, test_size=valid_of_rest, random_state=seed,
                                    stratify=bunch.target[rest])

    def split(i: np.ndarray) -> Split:
        i = torch.from_numpy(np.sort(i))
        return Split(images[i], labels[i])

    return split(train), split(valid), split(test), len(bunch.target_names)


def _fashion_dirs(data_dir: str | Path | None) -> list[Path]:
    if data_dir is None:
        return [FASHION_MNIST_DIR]
    root = Path(data_dir)
    return [root, root / "FashionMNIST" / "raw"]


def _fashion_mnist(data_dir: str | Path | None) -> tuple[Split, Split]:
    """The four idx files (gzipped or not) from Debian's package dir, ``data_dir`` or
    torchvision's ``data_dir/FashionMNIST/raw``."""
    for folder in _fashion_dirs(data_dir):
        found = {key: _idx_path(folder, stem) for key, stem in FASHION_FILES.items()}
        if all(found.values()):
            break
    else:
        where = " or ".join(str(d) for d in _fashion_dirs(data_dir))
        raise DataError(
            f"fashion-mnist: no {FASHION_FILES['train_images']}[.gz] (and the other idx files) "
            f"in {where}; install Debian's {FASHION_MNIST_APT} "
            f"(apt-get install {FASHION_MNIST_APT}) or pass --data-dir DIR holding the four "
            "idx files"
        )
    train = _idx_split(found["train_images"], found["train_labels"])
    test = _idx_split(found["test_images"], found["test_labels"])
    if test.images.shape[1:] != train.images.shape[1:]:
        raise DataError(f"fashion-mnist: {found['test_images']} holds images of "
                        f"{_size(test.images)} pixels but {found['train_images']} of "
                        f"{_size(train.images)}; the four idx files must come from one data set")
    return train, test


def _idx_split(images_path: Path, labels_path: Path) -> Split:
    """One split from an images file (N x H x W) and its labels file (N), each checked."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dim() != 3 or labels.dim() != 1:
        wrong, want = ((images_path, "images (N x H x W)") if images.dim() != 3
                       else (labels_path, "labels (N)"))
        raise DataError(f"{wrong} holds no {want}; the idx files are swapped or misnamed, so "
                        "give each file its Fashion-MNIST name")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} holds {images.shape[0]} images but {labels_path} "
                        f"{labels.shape[0]} labels; the two files must come from one data set")
    if images.shape[0] == 0 or 0 in images.shape[1:]:
        raise DataError(f"{images_path} holds no images (shape {tuple(images.shape)}); replace it")
    split = Split(images.unsqueeze(1), labels.long())
    _check_labels(split, FASHION_CLASSES, labels_path)
    return split


def _size(images: torch.Tensor) -> str:
    return "x".join(str(d) for d in images.shape[-2:])


def _idx_path(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: str | Path) -> torch.Tensor:
    """An idx file (the MNIST format: magic, big-endian sizes, uint8 data), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {path} ({err}); the file is corrupt or truncated, so "
                        "download it again") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from None
    if len(raw) < 4:
        raise DataError(f"{path} is not an idx file (too short); replace it")
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or magic not in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC):
        raise DataError(f"{path} is not an idx uint8 file (magic {magic:#010x}, expected "
                        f"{IDX_IMAGES_MAGIC:#010x} or {IDX_LABELS_MAGIC:#010x}); replace it")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: the idx header is cut short (truncated?); replace the file")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != math.prod(dims):
        raise DataError(f"{path}: header says {dims} but holds {data.size} values "
                        "(truncated?); replace the file")
    return torch.from_numpy(data.reshape(dims).copy())


def _cifar(family: str, data_dir: str | Path | None, download: bool) -> tuple[Split, Split, int]:
    from torchvision import datasets

    cls = datasets.CIFAR10 if family == "cifar10" else datasets.CIFAR100
    if data_dir is None and not download:
        raise DataError(f"{family}: pass --data-dir DIR holding torchvision's {family} files, or "
                        f"add --download to fetch them (into {DEFAULT_DOWNLOAD_DIR} by default)")
    root = Path(data_dir) if data_dir is not None else DEFAULT_DOWNLOAD_DIR
    splits = []
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=download)
        except RuntimeError:
            raise DataError(f"{family}: torchvision's files not found (or corrupt) in {root}; "
                            "pass --data-dir DIR holding them, or add --download") from None
        images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
        split = Split(images, torch.as_tensor(ds.targets, dtype=torch.long))
        _check_labels(split, len(ds.classes), root)
        splits.append(split)
    return splits[0], splits[1], len(ds.classes)


def _standin_shape(arg: str) -> tuple[int, int, int]:
    if not arg:
        return STANDIN_SHAPE
    match = re.fullmatch(r"([0-9]{1,6})x([0-9]{1,6})x([0-9]{1,6})", arg)
    sizes = tuple(int(g) for g in match.groups()) if match else ()
    if not sizes or min(sizes) < 1 or math.prod(sizes) > STANDIN_MAX_VALUES:
        raise ConfigError(f"standin:{shown(arg)}: expected standin:CxHxW with positive sizes and "
                          f"C*H*W at most {STANDIN_MAX_VALUES:,}, e.g. standin:3x32x32")
    c, h, w = sizes
    return c, h, w


def _standin(shape: tuple[int, int, int], seed: int) -> tuple[Split, Split, Split, int]:
    """Learnable generated images: each class a smooth random pattern, plus pixel noise.

    The patterns are fixed for a shape; ``seed`` draws which noisy samples land in the training
    and validation splits, and the test split is drawn from its own fixed stream.
    """
    c, h, w = shape
    gen = torch.Generator().manual_seed(STANDIN_PATTERN_SEED)
    coarse = torch.rand(STANDIN_CLASSES, c, STANDIN_PATTERN_GRID, STANDIN_PATTERN_GRID,
                        generator=gen) * 2 - 1
    patterns = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)

    def draw(n: int, stream: torch.Generator) -> Split:
        labels = torch.randint(STANDIN_CLASSES, (n,), generator=stream)
        noise = torch.randn(n, c, h, w, generator=stream) * STANDIN_NOISE
        pixels = (0.5 + STANDIN_CONTRAST * patterns[labels] + noise).clamp(0, 1)
        return Split((pixels * PIXEL_MAX).round().to(torch.uint8), labels)

    n_train, n_valid, n_test = STANDIN_SIZES
    test = draw(n_test, torch.Generator().manual_seed(STANDIN_PATTERN_SEED + 1))
    full = draw(n_train + n_valid, torch.Generator().manual_seed(seed))
    train, valid = _carve(full, n_valid, seed)
    return train, valid, test, STANDIN_CLASSES


def _channel_stats(split: Split) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the training images (in [0, 1]), for normalization."""
    x = split.images.double() / PIXEL_MAX
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


# ----- batches ---------------------------------------------------------------------------------
def n_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(data: ImageData, split: Split, batch_size: int, *, shuffle: bool = False,
            augment: bool = False, cutout: int = 0, generator: torch.Generator | None = None,
            device: torch.device | str = "cpu", drop_last: bool = False,
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalized batches ``(x, y)`` on ``device``, ``x`` in torch's default float dtype.

    ``augment`` applies the dataset's crop and flip; ``cutout`` > 0 zeroes a square of that side
    after normalization (so the hole is the mean colour). All randomness comes from
    ``generator``, so a seeded generator gives the same batches every run.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    for i in range(n_batches(n, batch_size, drop_last)):
        idx = order[i * batch_size:(i + 1) * batch_size]
        x = split.images[idx].to(torch.get_default_dtype()) / PIXEL_MAX
        if augment:
            x = augment_batch(x, data.augmentation, generator)
        x = (x - mean) / std
        if cutout > 0:
            x = cutout_batch(x, cutout, generator)
        yield x.to(device, non_blocking=True), split.labels[idx].to(device, non_blocking=True)


def augment_batch(x: torch.Tensor, aug: Augmentation,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop (each image shifted by up to ``aug.pad`` pixels, zero fill) and, where the
    dataset allows it, a random horizontal flip of half the images."""
    b, _, h, w = x.shape
    if aug.pad > 0:
        padded = F.pad(x, (aug.pad,) * 4)
        dy = torch.randint(2 * aug.pad + 1, (b,), generator=generator)
        dx = torch.randint(2 * aug.pad + 1, (b,), generator=generator)
        rows = (dy[:, None] + torch.arange(h))[:, :, None]  # B x H x 1
        cols = (dx[:, None] + torch.arange(w))[:, None, :]  # B x 1 x W
        x = padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if aug.flip:
        flip = torch.rand(b, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def cutout_batch(x: torch.Tensor, length: int, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """Zero one ``length`` x ``length`` square per image, centred anywhere (clipped at borders)."""
    b, _, h, w = x.shape
    top = torch.randint(h, (b,), generator=generator)[:, None, None] - length // 2
    left = torch.randint(w, (b,), generator=generator)[:, None, None] - length // 2
    ys = torch.arange(h)[None, :, None]
    xs = torch.arange(w)[None, None, :]
    hole = (ys >= top) & (ys < top + length) & (xs >= left) & (xs < left + length)
    return x * (~hole).unsqueeze(1).to(x.dtype)
