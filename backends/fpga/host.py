"""The host side of the UART link (:mod:`circuits.digital.bridge` is the hardware side): commands encoded as
bytes, answers decoded, over any transport with ``write(bytes)`` and ``read(n) -> bytes`` (a pyserial port, a
pseudo-terminal, a simulator's byte queue).

Streaming commands go out in batches of :data:`BATCH` samples (``HostLink.batch``: one where the network computes
a sample more slowly than the link delivers one, :func:`backends.fpga.remote.samples_per_batch`) and their answers
are read before the next batch, so neither side's buffers overflow on a link without flow control.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from circuits.digital.bridge import IDENTIFY, INFER, READ, TRAIN, WRITE, WRITTEN, LinkShape, word_bytes
from errors import SimulationError

BATCH = 16


class Transport(Protocol):
    def write(self, data: bytes) -> object: ...

    def read(self, size: int) -> bytes: ...


def encode_word(value: int, bits: int) -> bytes:
    return (int(value) & ((1 << (8 * word_bytes(bits))) - 1)).to_bytes(word_bytes(bits), "little")


def decode_words(data: bytes, bits: int) -> list[int]:
    """Little-endian two's complement words of ``⌈bits/8⌉`` bytes each."""
    size = word_bytes(bits)
    return [int.from_bytes(data[k:k + size], "little", signed=True) for k in range(0, len(data), size)]


def encode_samples(shape: LinkShape, x: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    """``I`` (or, with labels, ``T``) commands for the rows of the integer input codes ``x``."""
    out = bytearray()
    for k, row in enumerate(np.asarray(x, dtype=np.int64)):
        out += TRAIN if labels is not None else INFER
        for v in row:
            out += encode_word(int(v), shape.in_bits)
        if labels is not None:
            out += encode_word(int(labels[k]), shape.in_bits)
    return bytes(out)


def encode_weight(shape: LinkShape, layer: int, row: int, col: int, value: int | None = None) -> bytes:
    """A ``W`` command (with ``value``) or an ``R`` command."""
    head = (WRITE if value is not None else READ) + bytes([layer]) + row.to_bytes(2, "little") \
        + col.to_bytes(2, "little")
    return head + (encode_word(value, shape.w_bits) if value is not None else b"")


@dataclass
class HostLink:
    """A session with the hardware behind ``transport``; ``shape`` says what the design is (from its folder)."""

    transport: Transport
    shape: LinkShape
    progress: Callable[[int], None] | None = None
    batch: int = BATCH  # samples sent before their answers are read

    def _read(self, size: int, what: str) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.transport.read(size - len(data))
            if not chunk:
                raise SimulationError(f"the hardware sent {len(data)} of the {size} bytes of {what}, then nothing "
                                      "(wrong port, baud rate or bitstream?)")
            data += chunk
        return data

    def identify(self) -> dict[str, int | bool]:
        """Ask the hardware what it is; an error unless it is the design ``shape`` describes."""
        self.transport.write(IDENTIFY)
        got = self._read(8, "the identification")
        want = self.shape.identity()
        if got != want:
            raise SimulationError(f"the hardware identifies as {got!r}, not as this folder's design {want!r}: "
                                  "build and load this folder's bitstream")
        return {"n_in": self.shape.n_in, "n_out": self.shape.n_out, "learns": self.shape.learns}

    def _stream(self, x: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        s = self.shape
        size = s.n_out * word_bytes(s.out_bits)
        rows: list[list[int]] = []
        for start in range(0, len(x), self.batch):
            chunk = x[start:start + self.batch]
            self.transport.write(encode_samples(s, chunk, None if labels is None else labels[start:start + self.batch]))
            data = self._read(size * len(chunk), f"the outputs of samples {start}–{start + len(chunk) - 1}")
            words = decode_words(data, s.out_bits)
            rows += [words[k:k + s.n_out] for k in range(0, len(words), s.n_out)]
            if self.progress is not None:
                self.progress(len(chunk))
        return np.array(rows, dtype=np.int64).reshape(len(x), s.n_out)

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Output words ``(n, n_out)`` for the integer input codes ``x`` ``(n, n_in)``."""
        return self._stream(x, None)

    def train(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Train on each sample in turn (a learning design); the predictions it made before each update."""
        if not self.shape.learns:
            raise SimulationError("this design has no learning engine: compile with --learn to train on chip")
        return self._stream(x, labels)

    def write_weight(self, layer: int, row: int, col: int, value: int) -> None:
        self.transport.write(encode_weight(self.shape, layer, row, col, value))
        if self._read(1, "the write's acknowledgement") != WRITTEN:
            raise SimulationError(f"the hardware did not acknowledge writing weight ({layer}, {row}, {col})")

    def write_weights(self, weights: Iterable[np.ndarray], progress: Callable[[int], object] | None = None) -> None:
        """Write every weight of every layer (one ``W`` command each, a row's commands before its
        acknowledgements); ``progress`` is told each row's count."""
        for k, values in enumerate(weights):
            for r, row in enumerate(np.asarray(values, dtype=np.int64)):
                self.transport.write(b"".join(encode_weight(self.shape, k, r, c, int(v)) for c, v in enumerate(row)))
                if self._read(len(row), f"layer {k} row {r}'s acknowledgements") != WRITTEN * len(row):
                    raise SimulationError(f"the hardware did not acknowledge writing layer {k} row {r}")
                if progress is not None:
                    progress(len(row))

    def read_weights(self, shapes: Iterable[tuple[int, int]]) -> list[np.ndarray]:
        """Every weight of layers of ``(out, in)`` shapes, one ``R`` command each."""
        size = word_bytes(self.shape.w_bits)
        out = []
        for k, (n_out, n_in) in enumerate(shapes):
            values = np.zeros((n_out, n_in), dtype=np.int64)
            for r in range(n_out):
                self.transport.write(b"".join(encode_weight(self.shape, k, r, c) for c in range(n_in)))
                values[r] = decode_words(self._read(size * n_in, f"layer {k} row {r}'s weights"), self.shape.w_bits)
            out.append(values)
        return out
