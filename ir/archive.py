"""Bounded reading of untrusted zip archives and ``.npy`` entries: every limit is checked before the memory it
guards is allocated.

A model file is data someone may have sent; a zip entry can declare any size and decompress a thousandfold, an
``.npy`` header can declare 10^12 elements, and JSON can nest until the parser's recursion gives out. So:

- the archive holds at most :data:`MAX_ENTRIES` entries, each named once, stored or deflated, not encrypted;
- the JSON structure is at most :data:`MAX_JSON_BYTES` and nests at most :data:`MAX_JSON_DEPTH` deep (counted on
  the raw text before parsing); ``NaN``/``Infinity`` are refused;
- an array's header is read first: a numeric dtype (no objects, no records), at most :data:`MAX_ARRAY_ELEMENTS`
  elements, and all arrays together at most :func:`byte_budget` of the archive's size (deflate cannot inflate
  trained weights much, so a larger claim is a bomb); only then is the array's memory allocated and filled, in
  chunks, and the entry must end exactly there (its CRC is checked at that end).
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
import zlib
from typing import IO, Any

import numpy as np

from errors import ModelFormatError

MAX_ENTRIES = 4096
MAX_JSON_BYTES = 16 << 20
MAX_JSON_DEPTH = 32
MAX_ARRAY_ELEMENTS = 1 << 28
MAX_NPY_HEADER = 10_000
_CHUNK = 1 << 20
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError, NotImplementedError)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


def byte_budget(archive_bytes: int) -> int:
    """The most array bytes an archive of ``archive_bytes`` may decompress to: 64 MiB, plus 64 times its size."""
    return (64 << 20) + 64 * archive_bytes


def json_depth(raw: bytes) -> int:
    """How deep brackets nest in JSON text (strings blanked out first), without parsing it."""
    arr = np.frombuffer(_STRING.sub(b'""', raw), np.uint8)
    step = np.isin(arr, _OPEN).astype(np.int64) - np.isin(arr, _CLOSE).astype(np.int64)
    return int(np.cumsum(step).max()) if len(step) else 0


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(raw: bytes, where: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """``raw`` decoded as JSON within the size and depth limits; :class:`ModelFormatError` naming ``where``."""
    if len(raw) > max_bytes:
        raise ModelFormatError(f"{where} is {len(raw)} bytes, more than the {max_bytes} this neurocc reads")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise ModelFormatError(f"{where} nests {depth} levels deep, more than the {MAX_JSON_DEPTH} allowed")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelFormatError(f"{where} is not valid JSON ({detail})") from e


class Archive:
    """A zip archive opened for bounded reads; ``where`` names it in every error."""

    def __init__(self, path: str | os.PathLike[str], where: str) -> None:
        self.where = where
        try:
            self.size = os.stat(path).st_size
            self._zf = zipfile.ZipFile(path)
        except Exception as e:  # noqa: BLE001 - zipfile parses the central directory itself; any failure (a version
            # it cannot read raises NotImplementedError, say) means the file is not an archive neurocc reads
            raise ModelFormatError(f"{where} is truncated or corrupted: it is not a readable zip archive") from e
        try:
            infos = self._zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ModelFormatError(f"{where} holds {len(infos)} entries, more than the {MAX_ENTRIES} allowed")
            self.entries: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                if info.filename in self.entries:
                    raise ModelFormatError(f"{where} is corrupted: entry {info.filename!r} appears twice")
                if info.flag_bits & 0x1:
                    raise ModelFormatError(f"{where}: entry {info.filename!r} is encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise ModelFormatError(f"{where}: entry {info.filename!r} must be stored or deflated, not "
                                           f"compression method {info.compress_type}")
                self.entries[info.filename] = info
        except BaseException:
            self._zf.close()
            raise
        self.budget = byte_budget(self.size)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zf.close()

    def _open(self, entry: str) -> IO[bytes]:
        info = self.entries.get(entry)
        if info is None:
            raise ModelFormatError(f"{self.where} is not a neurocc model: entry {entry!r} is missing")
        try:
            return self._zf.open(info)
        except _READ_ERRORS as e:
            raise ModelFormatError(f"{self.where} is corrupted: entry {entry!r} cannot be read ({e})") from e

    def _read(self, stream: IO[bytes], entry: str, n: int) -> bytearray:
        """Exactly ``n`` bytes of ``stream``, read in chunks into one buffer."""
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        try:
            while got < n:
                chunk = stream.read(min(_CHUNK, n - got))
                if not chunk:
                    raise ModelFormatError(f"{self.where} is corrupted: entry {entry!r} ends after {got} of its "
                                           f"{n} bytes")
                view[got: got + len(chunk)] = chunk
                got += len(chunk)
        except _READ_ERRORS as e:
            raise ModelFormatError(f"{self.where} is corrupted: entry {entry!r} cannot be read ({e})") from e
        return buf

    def _expect_end(self, stream: IO[bytes], entry: str) -> None:
        try:
            extra = stream.read(1)  # reaching the end also checks the entry's CRC
        except _READ_ERRORS as e:
            raise ModelFormatError(f"{self.where} is corrupted: entry {entry!r} cannot be read ({e})") from e
        if extra:
            raise ModelFormatError(f"{self.where} is corrupted: entry {entry!r} holds more bytes than it declares")

    def read_json(self, entry: str) -> Any:
        with self._open(entry) as stream:
            try:
                raw = stream.read(MAX_JSON_BYTES + 1)
            except _READ_ERRORS as e:
                raise ModelFormatError(f"{self.where} is corrupted: entry {entry!r} cannot be read ({e})") from e
            if len(raw) <= MAX_JSON_BYTES:
                self._expect_end(stream, entry)
        return parse_json(raw, f"{self.where}, entry {entry!r},")

    def read_array(self, entry: str, what: str) -> np.ndarray:
        """The array in ``.npy`` entry ``entry`` (``what`` names it in errors), within the limits above."""
        where = f"{self.where} is corrupted: {what}"
        with self._open(entry) as stream:
            try:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream, MAX_NPY_HEADER)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream, MAX_NPY_HEADER)
                else:
                    raise ModelFormatError(f"{where} has .npy format version {version!r}; 1.0 or 2.0 is read")
            except ModelFormatError:
                raise
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as e:
                raise ModelFormatError(f"{self.where} is corrupted: entry {entry!r} cannot be read ({e})") from e
            except Exception as e:  # noqa: BLE001 - numpy parses the header text itself; any failure is a bad file
                detail = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ModelFormatError(f"{where} has no readable .npy header ({detail[:200]})") from e
            if dtype.hasobject:
                raise ModelFormatError(f"{where} must hold numbers, not pickled Python objects (dtype "
                                       f"{dtype.str!r}): neurocc never unpickles")
            if dtype.kind not in "fiub" or dtype.fields is not None or dtype.subdtype:
                raise ModelFormatError(f"{where} must hold numbers (integer, float or bool), not dtype {dtype.str!r}")
            count = math.prod(shape)
            if count > MAX_ARRAY_ELEMENTS:
                raise ModelFormatError(f"{what} of {self.where} declares shape {shape!r}: {count} elements, more "
                                       f"than the {MAX_ARRAY_ELEMENTS} allowed")
            nbytes = count * dtype.itemsize
            if nbytes > self.budget:
                raise ModelFormatError(f"{what} of {self.where} declares {nbytes} bytes, more than a "
                                       f"{self.size}-byte model file may hold ({self.budget} left)")
            self.budget -= nbytes
            buf = self._read(stream, entry, nbytes)
            self._expect_end(stream, entry)
        arr = np.frombuffer(buf, dtype=dtype, count=count).reshape(shape, order="F" if fortran else "C")
        return np.ascontiguousarray(arr)
