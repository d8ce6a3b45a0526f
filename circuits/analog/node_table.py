"""A circuit's node names, numbered in order of first appearance (ground ``0`` is ``-1`` and not in the table).

The text reader (:mod:`circuits.analog.parse`) numbers the words it split with a dict. The in-memory reader
(:mod:`circuits.analog.parse_model`) has the resistors' terminals as numpy byte strings, tens of thousands of
them, and numbers them without making a Python object each: every name is hashed (its bytes, zero-padded to whole
64-bit words, mixed word by word), the hash's high bits and the name's position packed in one 64-bit key, the keys
sorted (a plain sort, three times faster than numpy's argsort), equal hashes grouped, and each group's first key
holds the name's first appearance. A hash collision cannot number two names as one: every name is compared byte for
byte with its group's first, and on a mismatch the names are numbered by a dict instead. Names are decoded to
``str`` only when asked for (an error message, a test).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np

from circuits.analog.netlist import GROUND

_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9))
_GROUND = GROUND.encode("ascii")


def _words(names: np.ndarray, width: int) -> list[np.ndarray]:
    """The byte strings ``names`` as ``width`` bytes each (zero-padded), read as 64-bit words: one array per word,
    the last word ending at the last byte (so it overlaps the one before where ``width`` is not a multiple of 8).
    They are views of the names' bytes where the names are ``width`` bytes wide already (no copy), at least 8."""
    names = np.ascontiguousarray(names.astype(f"S{max(width, 8)}", copy=False))
    width = names.dtype.itemsize
    starts = [*range(0, width - 8, 8), width - 8]
    return [np.ndarray((len(names),), dtype=np.uint64, buffer=names, offset=at, strides=(width,)) if len(names)
            else np.zeros(0, dtype=np.uint64) for at in starts]


def _mixed(words: list[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each name from its ``words`` (:func:`_words`)."""
    with np.errstate(over="ignore"):
        h = words[0] * _MIX[0]
        for word in words[1:]:
            h ^= h >> np.uint64(29)
            h = (h + word) * _MIX[1]
        h ^= h >> np.uint64(32)
    return h


class NodeTable(Sequence[str]):
    """Distinct node names in order of first appearance, and :meth:`find` for their indices."""

    def __init__(self, names: list[str], index: dict[str, int]) -> None:
        """``names`` in order and ``index`` (each name's position; ground ``-1``), as a dict numbers them."""
        self._strings: list[str] | None = names
        self._index: dict[str, int] | None = index
        self._bytes = np.zeros(0, dtype="S1")
        self._sorted_hashes = np.zeros(0, dtype=np.uint64)
        self._sorted_ids = np.zeros(0, dtype=np.int64)
        self._width = 8  # the names' width in bytes
        self._shift = np.uint64(0)  # the hashes' low bits left out
        self._extra: list[str] = []  # names appended after the bulk (single elements' nodes)
        self._extra_index: dict[str, int] = {}

    @classmethod
    def numbered(cls, names: np.ndarray) -> tuple[NodeTable, np.ndarray]:
        """The table of the byte strings ``names`` (in order) and each one's index (ground ``-1``)."""
        table = cls([], {})
        n = len(names)
        if not n:
            return table, np.zeros(0, dtype=np.int64)
        width = names.dtype.itemsize
        u = _words(names, width)
        # Sorted as one key each: the hash's high bits, then the name's position (so a group of equal hashes
        # starts at the name's first appearance).
        shift = np.uint64(max(1, (n - 1).bit_length()))
        key = (_mixed(u) >> shift << shift) | np.arange(n, dtype=np.uint64)
        key.sort()
        position = (key & ((np.uint64(1) << shift) - np.uint64(1))).astype(np.int32)
        key >>= shift  # the hashes' high bits, sorted
        new = np.empty(n, dtype=bool)
        new[0], new[1:] = True, key[1:] != key[:-1]
        starts = np.flatnonzero(new)
        group = np.empty(n, dtype=np.int32)  # each name's group: its hash's rank
        group[position] = np.cumsum(new, dtype=np.int32) - 1  # (numpy's int64 running sum is 20× slower)
        first = position[starts]  # each group's first appearance
        same = first[group]
        if not all(np.array_equal(word, word[same]) for word in u):  # two names, one hash
            strings = names.astype(str).tolist()
            order_s = [s for s in dict.fromkeys(strings) if s != GROUND]
            index = dict(zip(order_s, range(len(order_s)), strict=True))
            ids = np.array([index.get(s, -1) for s in strings], dtype=np.int64)
            return cls(order_s, index), ids
        appears = np.zeros(n, dtype=bool)  # where the groups but ground first appear, in order
        appears[first[names[first] != _GROUND]] = True
        rank = np.flatnonzero(appears)
        slot = np.full(n, -1, dtype=np.int64)
        slot[rank] = np.arange(len(rank))
        group_id = slot[first]  # each group's index (ground's -1)
        table._strings, table._index = None, None
        table._bytes = names[rank]
        table._width = width
        table._shift = shift
        table._sorted_hashes = key[starts]
        table._sorted_ids = group_id
        return table, group_id[group]

    def __len__(self) -> int:
        bulk = len(self._strings) if self._strings is not None else len(self._bytes)
        return bulk + len(self._extra)

    def _bulk(self) -> list[str]:
        if self._strings is None:
            self._strings = self._bytes.astype(str).tolist()
        return self._strings

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [*self._bulk(), *self._extra][i]
        bulk = self._bulk()
        k = i + len(self) if i < 0 else i
        if not 0 <= k < len(self):
            raise IndexError(f"node {i} of {len(self)}")
        return bulk[k] if k < len(bulk) else self._extra[k - len(bulk)]

    def __iter__(self) -> Iterator[str]:
        yield from self._bulk()
        yield from self._extra

    def find(self, names: Sequence[str]) -> np.ndarray:
        """The index of each of ``names`` (ground ``-1``; ``-2`` where it is not in the table)."""
        out = np.full(len(names), -2, dtype=np.int64)
        if not len(names):
            return out
        if self._index is not None:
            for k, name in enumerate(names):
                out[k] = -1 if name == GROUND else self._index.get(name, -2)
        else:
            wanted = np.array([name.encode("ascii", "replace") for name in names], dtype="S")
            fits = np.char.str_len(wanted) <= self._width
            if len(self._bytes) and fits.any():
                h = _mixed(_words(wanted[fits], self._width)) >> self._shift
                at = np.minimum(np.searchsorted(self._sorted_hashes, h), len(self._sorted_hashes) - 1)
                ids = self._sorted_ids[at]
                same = (self._sorted_hashes[at] == h) & (ids >= 0)
                same &= self._bytes[np.where(same, ids, 0)] == wanted[fits]
                out[np.flatnonzero(fits)[same]] = ids[same]
            out[wanted == _GROUND] = -1
        if self._extra_index:
            for k in np.flatnonzero(out == -2).tolist():
                out[k] = self._extra_index.get(names[k], -2)
        return out

    def add(self, names: Sequence[str]) -> np.ndarray:
        """The index of each of ``names``, appending those not in the table in order (ground ``-1``)."""
        out = self.find(names)
        for k in np.flatnonzero(out == -2).tolist():
            name = names[k]
            if name not in self._extra_index:
                self._extra_index[name] = len(self)
                self._extra.append(name)
            out[k] = self._extra_index[name]
        return out
