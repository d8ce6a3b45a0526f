"""Data sets that work offline, each with a fixed train/test split and features scaled to [0, 1].

- ``digits``: scikit-learn's 1,797 8×8 digit images (ships with scikit-learn); a stratified 80/20 split with a
  fixed seed, so every run and every tool sees the same 360 test images.
- ``fashion-mnist``: the 60,000/10,000 split of Debian's ``dataset-fashion-mnist`` package, read from its gzipped
  IDX files (``NEUROCC_FASHION_MNIST_DIR`` points elsewhere).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from errors import ConfigError, DataError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Features as float32 in [0, 1], shape (n, features); labels as int64 in [0, n_classes)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=DIGITS_SPLIT_SEED
    )
    return Dataset("digits", x_tr, y_tr, x_te, y_te, 10)


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes (the MNIST format) into an array of its stated shape."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as e:
        raise DataError(f"IDX file {str(path)!r} cannot be read: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"IDX file {str(path)!r} must start with the unsigned-byte magic 0x0000 08, not {raw[:4]!r}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {str(path)!r} is truncated in its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise DataError(f"IDX file {str(path)!r} must hold {size} bytes of data for shape {shape!r}, "
                        f"not {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _fashion_mnist() -> Dataset:
    root = Path(os.environ.get("NEUROCC_FASHION_MNIST_DIR", FASHION_MNIST_DIR))
    parts = {}
    for key, fname in (("x_train", "train-images-idx3-ubyte.gz"), ("y_train", "train-labels-idx1-ubyte.gz"),
                       ("x_test", "t10k-images-idx3-ubyte.gz"), ("y_test", "t10k-labels-idx1-ubyte.gz")):
        path = root / fname
        try:
            parts[key] = read_idx(path)
        except FileNotFoundError as e:
            raise DataError(f"data set 'fashion-mnist' needs Debian's package dataset-fashion-mnist "
                            f"(apt-get install dataset-fashion-mnist): {str(path)!r} does not exist") from e
    for split in ("train", "test"):
        x, y = parts[f"x_{split}"], parts[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"fashion-mnist {split} images {x.shape!r} and labels {y.shape!r} do not match")
    return Dataset(
        "fashion-mnist",
        (parts["x_train"].reshape(len(parts["x_train"]), -1) / 255.0).astype(np.float32),
        parts["y_train"].astype(np.int64),
        (parts["x_test"].reshape(len(parts["x_test"]), -1) / 255.0).astype(np.float32),
        parts["y_test"].astype(np.int64),
        10,
    )


DATASETS: dict[str, Callable[[], Dataset]] = {
    "digits": _digits,
    "fashion-mnist": _fashion_mnist,
}


@lru_cache(maxsize=4)
def load_dataset(name: str) -> Dataset:
    """Load a data set by name (cached); an unknown name is a :class:`ConfigError`."""
    loader = DATASETS.get(name)
    if loader is None:
        raise ConfigError(f"unknown data set {name!r}: must be one of {', '.join(DATASETS)}")
    return loader()
