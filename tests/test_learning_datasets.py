import gzip

import numpy as np
import pytest

from ir import ConfigError, DataError
from learning.datasets import load_dataset, read_idx


def test_digits_fixed_stratified_split():
    d = load_dataset("digits")
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    counts = np.bincount(d.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 of each class
    load_dataset.cache_clear()
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.x_test, d.x_test)


@pytest.mark.slow  # reads the whole data set
def test_fashion_mnist_from_debian_package():
    d = load_dataset("fashion-mnist")
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.y_train.min() == 0 and d.y_train.max() == 9
    assert d.x_test.dtype == np.float32 and d.x_test.max() <= 1.0


def test_fashion_mnist_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROCC_FASHION_MNIST_DIR", str(tmp_path))
    load_dataset.cache_clear()
    try:
        with pytest.raises(DataError, match=r"^data set 'fashion-mnist' needs Debian's package "
                                            r"dataset-fashion-mnist \(apt-get install dataset-fashion-mnist\): "
                                            rf"'{tmp_path}/train-images-idx3-ubyte\.gz' does not exist$"):
            load_dataset("fashion-mnist")
    finally:
        load_dataset.cache_clear()


def test_unknown_dataset():
    with pytest.raises(ConfigError, match=r"^unknown data set 'mnist-9000': must be one of digits, fashion-mnist$"):
        load_dataset("mnist-9000")


def _idx(path, header: bytes, body: bytes):
    with gzip.open(path, "wb") as f:
        f.write(header + body)


def test_idx_reader(tmp_path):
    p = tmp_path / "ok.gz"
    _idx(p, bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big"), bytes(range(6)))
    np.testing.assert_array_equal(read_idx(p), np.arange(6).reshape(2, 3))


def test_idx_truncated(tmp_path):
    p = tmp_path / "short.gz"
    _idx(p, bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big"), bytes(4))
    with pytest.raises(DataError, match=rf"^IDX file '{p}' must hold 10 bytes of data for shape \(10,\), not 4$"):
        read_idx(p)


def test_idx_bad_magic(tmp_path):
    p = tmp_path / "magic.gz"
    _idx(p, bytes([0, 0, 9, 1]), b"")
    with pytest.raises(DataError, match=rf"^IDX file '{p}' must start with the unsigned-byte magic"):
        read_idx(p)
