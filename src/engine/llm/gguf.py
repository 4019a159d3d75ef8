"""Just enough of the GGUF format to check a model file and read its chat template."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

GGUF_MAGIC = b"GGUF"

# value type ids of the GGUF key/value section and their fixed sizes (strings and arrays vary)
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


class GGUFError(ValueError):
    """The file is not a readable GGUF model."""


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) == GGUF_MAGIC
    except OSError:
        return False


def read_string_metadata(path: Path, keys: set[str]) -> dict[str, str]:
    """String values of `keys` from the header, skipping everything else (token lists are
    large arrays, so they are seeked over, not read)."""
    found: dict[str, str] = {}
    with path.open("rb") as file:
        if file.read(4) != GGUF_MAGIC:
            raise GGUFError(f"{path} is not a GGUF file")
        version = _unpack(file, "<I")
        if version < 2:
            raise GGUFError(f"{path}: GGUF version {version} is too old")
        _unpack(file, "<Q")  # tensor count
        for _ in range(_unpack(file, "<Q")):
            key = _read_str(file)
            value_type = _unpack(file, "<I")
            if value_type == _STRING and key in keys:
                found[key] = _read_str(file)
                if len(found) == len(keys):
                    break
            else:
                _skip_value(file, value_type)
    return found


def _unpack(file: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    data = file.read(size)
    if len(data) != size:
        raise GGUFError("truncated GGUF header")
    return int(struct.unpack(fmt, data)[0])


def _read_str(file: BinaryIO) -> str:
    length = _unpack(file, "<Q")
    data = file.read(length)
    if len(data) != length:
        raise GGUFError("truncated GGUF header")
    return data.decode("utf-8", errors="replace")


def _skip_value(file: BinaryIO, value_type: int) -> None:
    if value_type in _FIXED_SIZES:
        file.seek(_FIXED_SIZES[value_type], 1)
    elif value_type == _STRING:
        file.seek(_unpack(file, "<Q"), 1)
    elif value_type == _ARRAY:
        item_type = _unpack(file, "<I")
        count = _unpack(file, "<Q")
        if item_type in _FIXED_SIZES:
            file.seek(_FIXED_SIZES[item_type] * count, 1)
        else:
            for _ in range(count):
                _skip_value(file, item_type)
    else:
        raise GGUFError(f"unknown GGUF value type {value_type}")
