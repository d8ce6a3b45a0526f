"""Command-line values checked where they are parsed: ranges, choices and output paths.

Each function here returns an ``argparse`` type that turns the text into a value or raises
:class:`argparse.ArgumentTypeError` with a phrase such as ``must be positive, not 0``; :class:`Parser` turns that
into one line naming the option (``--opamp-gain must be positive, not 0``) raised as :class:`UsageError`, so the
CLI prints ``error: ...`` and exits 1 like every other error, before any work starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from errors import ConfigError

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


class Kind:
    """What values an option takes: parses command-line text (an ``argparse`` type) and checks a value given to
    the library (:meth:`problem`), with the one phrase ``must be ...`` for both."""

    must: str = "must be a value"

    def accepts(self, value: object) -> bool:
        raise NotImplementedError

    def convert(self, text: str) -> object:
        raise NotImplementedError

    def __call__(self, text: str) -> object:
        try:
            value = self.convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{self.must}, not {_shown(text)}") from None
        if not self.accepts(value):
            raise argparse.ArgumentTypeError(f"{self.must}, not {_shown(text)}")
        return value

    def problem(self, value: object) -> str | None:
        """``must be ..., not <value>`` if ``value`` is not one of this kind's, else ``None``."""
        return None if self.accepts(value) else f"{self.must}, not {_shown(str(value))}"


class Int(Kind):
    """An integer in ``[lo, hi]`` (either end open when ``None``), or one of ``also``."""

    def __init__(self, lo: int | None = None, hi: int | None = None, also: tuple[int, ...] = (),
                 what: str | None = None) -> None:
        self.lo, self.hi, self.also = lo, hi, also
        self.must = "must be " + (what or _range(lo, hi, "int"))

    def convert(self, text: str) -> int:
        return int(text, 10)

    def accepts(self, value: object) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return value in self.also or ((self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi))


class Num(Kind):
    """A finite number in ``[lo, hi]``; ``positive``: greater than zero."""

    def __init__(self, lo: float | None = None, hi: float | None = None, positive: bool = False,
                 what: str | None = None) -> None:
        self.lo, self.hi, self.positive = lo, hi, positive
        self.must = "must be " + (what or ("positive" if positive and hi is None else _range(lo, hi, "float")))

    def convert(self, text: str) -> float:
        return float(text)

    def accepts(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return False
        return not ((self.positive and value <= 0) or (self.lo is not None and value < self.lo)
                    or (self.hi is not None and value > self.hi))


class Choice(Kind):
    def __init__(self, *names: str) -> None:
        self.names = names
        self.must = f"must be one of {', '.join(names)}"

    def convert(self, text: str) -> str:
        return text

    def accepts(self, value: object) -> bool:
        return value in self.names


class Lanes(Int):
    """A lane count in ``[1, hi]``, or ``auto`` (the fastest mapping that fits the board)."""

    def __init__(self, hi: int) -> None:
        super().__init__(1, hi, what=f"an integer in [1, {hi}] or auto")

    def convert(self, text: str) -> int | str:  # type: ignore[override]  # also the word ``auto``
        return "auto" if text == "auto" else int(text, 10)

    def accepts(self, value: object) -> bool:
        return value == "auto" or super().accepts(value)


class NumOrAuto(Num):
    """A positive number, or ``auto``."""

    def __init__(self) -> None:
        super().__init__(positive=True, what="a positive number or auto")

    def convert(self, text: str) -> float | str:  # type: ignore[override]  # also the word ``auto``
        return "auto" if text == "auto" else float(text)

    def accepts(self, value: object) -> bool:
        return value == "auto" or super().accepts(value)


class Flag(Kind):
    """An on/off switch (``--name`` on the command line)."""
    must = "must be true or false"

    def accepts(self, value: object) -> bool:
        return isinstance(value, bool)


class Text(Kind):
    """Any string (checked where it is used, such as a rule name)."""
    must = "must be a string"

    def convert(self, text: str) -> str:
        return text

    def accepts(self, value: object) -> bool:
        return isinstance(value, str)


def integer(lo: int | None = None, hi: int | None = None, also: tuple[int, ...] = (), what: str | None = None) -> Int:
    return Int(lo, hi, also, what)


def number(lo: float | None = None, hi: float | None = None, positive: bool = False, what: str | None = None) -> Num:
    return Num(lo, hi, positive, what)


def choice(*names: str) -> Choice:
    return Choice(*names)


def option(default: Any, kind: Kind, help: str, const: Any = None) -> Any:  # noqa: A002 - argparse's word
    """A field of an :class:`Options` dataclass: its default, what values it takes, and its help text; the
    command-line flag is the field's name with dashes (``g_min`` → ``--g-min``). ``const``: the value of the
    flag given without one (``--learn`` alone)."""
    return dataclasses.field(default=default, metadata={"kind": kind, "help": help, "const": const})


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of a target's typed options. Every field comes from :func:`option`; building an instance checks each
    value against its kind (``None`` is a field's "not given" where its default is ``None``), then
    :meth:`check` the combinations. The errors name the flag, so the library and the CLI say the same."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            problem = f.metadata["kind"].problem(value)
            if problem:
                raise ConfigError(f"{flag(f.name)} {problem}")
        self.check()

    def check(self) -> None:
        """Options that are wrong together (each alone was checked already)."""

    @classmethod
    def specs(cls) -> list[tuple[str, Kind, Any, str, Any]]:
        """``(field, kind, default, help, const)`` for every option."""
        return [(f.name, f.metadata["kind"], f.default, f.metadata["help"], f.metadata["const"])
                for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls, given: dict[str, Any], where: str) -> Options:
        """An instance from ``given`` (field → value); a name that is not a field is a :class:`ConfigError`
        naming ``where`` and the options there are."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ConfigError(f"{where} has no option {unknown[0]!r}: its options are {', '.join(names)}")
        return cls(**given)


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
