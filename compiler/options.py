"""Command-line values checked where they are parsed: ranges, choices and output paths.

Each function here returns an ``argparse`` type that turns the text into a value or raises
:class:`argparse.ArgumentTypeError` with a phrase such as ``must be positive, not 0``; :class:`Parser` turns that
into one line naming the option (``--opamp-gain must be positive, not 0``) raised as :class:`UsageError`, so the
CLI prints ``error: ...`` and exits 1 like every other error, before any work starts.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ir.errors import ConfigError

SEED_MAX = 2**32 - 1
MAX_WIDTH = 1 << 16
"""The widest hidden layer ``neurocc train`` builds."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class UsageError(ConfigError):
    """A command line that does not parse, or a value out of its option's range."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming the option, raised instead of exiting."""

    def error(self, message: str) -> NoReturn:
        m = re.fullmatch(r"argument ([^:]+): (.*)", message, re.S)
        if m:
            flags = m.group(1).split("/")
            flag = flags[0]  # as declared: -o before --output
            text = m.group(2)
            message = f"{flag} {text}" if text.startswith("must ") else f"{flag}: {text}"
        raise UsageError(" ".join(message.split()))


def _shown(text: str) -> str:
    return text if len(text) <= 200 and text.isprintable() else repr(text[:200])


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else f"{value:g}"


def _range(lo: float | None, hi: float | None, kind: str) -> str:
    noun = "an integer" if kind == "int" else "a number"
    if lo is not None and hi is not None:
        return f"{noun} in [{_num(lo)}, {_num(hi)}]"
    if lo == 1 and kind == "int":
        return "a positive integer"
    if lo == 0:
        return "a non-negative integer" if kind == "int" else "zero or positive"
    if lo is not None:
        return f"{noun} of at least {_num(lo)}"
    return noun if kind == "int" else "a finite number"


def integer(lo: int | None = None, hi: int | None = None, also: tuple[int, ...] = (),
            what: str | None = None) -> Callable[[str], int]:
    """An integer in ``[lo, hi]`` (either end open when ``None``), or one of ``also``."""
    must = "must be " + (what or _range(lo, hi, "int"))

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{must}, not {_shown(text)}") from None
        if value in also:
            return value
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{must}, not {_shown(text)}")
        return value

    return parse


def number(lo: float | None = None, hi: float | None = None, positive: bool = False,
           what: str | None = None) -> Callable[[str], float]:
    """A finite number in ``[lo, hi]``; ``positive``: greater than zero."""
    must = "must be " + (what or ("positive" if positive and hi is None else _range(lo, hi, "float")))

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{must}, not {_shown(text)}") from None
        if not math.isfinite(value) or (positive and value <= 0) or (lo is not None and value < lo) or \
                (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{must}, not {_shown(text)}")
        return value

    return parse


def choice(*names: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in names:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(names)}, not {_shown(text)}")
        return text

    return parse


def _is_model(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "neurocc.json" in zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False


def _is_png(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == PNG_MAGIC
    except OSError:
        return False


_KINDS: dict[str, tuple[str, Callable[[Path], bool]]] = {"model": ("a neurocc model", _is_model),
                                                          "png": ("a PNG image", _is_png)}


def output_file(kind: str) -> Callable[[str], str]:
    """A file neurocc may write: new, or an existing file of the same ``kind`` (``model`` or ``png``) to
    replace; never a folder, a link, a path under a file, or a file neurocc did not write."""
    what, same_kind = _KINDS[kind]

    def parse(text: str) -> str:
        path = Path(text)
        if not text or path.is_dir():
            raise argparse.ArgumentTypeError(f"must name a file, not the folder {_shown(text)}")
        if path.is_symlink():
            raise argparse.ArgumentTypeError(f"must not be a symbolic link, not {_shown(text)}")
        for parent in path.absolute().parents:
            if parent.exists() and not parent.is_dir():
                raise argparse.ArgumentTypeError(f"must be a path in a folder, not {_shown(text)} (under the file "
                                                 f"{str(parent)!r})")
        existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
        if existing != path.absolute() and not os.access(existing, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"must be a path neurocc can write, not {_shown(text)} ({str(existing)!r} "
                                             "is not writable)")
        if path.exists() and not same_kind(path):
            raise argparse.ArgumentTypeError(f"must be a new file or {what} to replace, not {_shown(text)}, which "
                                             "neurocc did not write")
        return text

    return parse
