"""Reads a W&B offline run file (`run-<id>.wandb`) back into its protobuf records.

The file is what `wandb sync` uploads: a 7-byte header (`:W&B`, magic 0xBEE1,
version) and then LevelDB's log format, 32 KiB blocks of records each framed by a
CRC-32 (of the type byte, then the data), a length and a type (full, or first /
middle / last piece of a record split across blocks). wandb 0.31 no longer ships a
Python reader (its core is in Go), so the tests read the file with this one and
parse each record with wandb's own protobuf classes: what a sync would send.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FILE_HEADER = struct.Struct("<4sHB")
RECORD_HEADER = struct.Struct("<IHB")
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def payloads(path: Path) -> Iterator[bytes]:
    body = path.read_bytes()
    ident, magic, _version = FILE_HEADER.unpack_from(body)
    assert (ident, magic) == (b":W&B", 0xBEE1), f"{path}: not a W&B run file"
    at, pieces = FILE_HEADER.size, b""
    while at < len(body):
        if BLOCK - at % BLOCK < RECORD_HEADER.size:  # a block's tail too short for a header is padding
            at += BLOCK - at % BLOCK
            continue
        if at + RECORD_HEADER.size > len(body):
            break
        crc, length, kind = RECORD_HEADER.unpack_from(body, at)
        at += RECORD_HEADER.size
        data = body[at : at + length]
        at += length
        if kind == 0 and length == 0:  # zeroed tail of the last block
            continue
        assert zlib.crc32(data, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF == crc, f"{path}: bad checksum at {at}"
        if kind == FULL:
            yield data
        elif kind == FIRST:
            pieces = data
        elif kind == MIDDLE:
            pieces += data
        elif kind == LAST:
            yield pieces + data
            pieces = b""


def records(path: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    out = []
    for data in payloads(path):
        record = pb.Record()
        record.ParseFromString(data)
        out.append(record)
    return out


def run_files(folder: Path) -> list[Path]:
    """Every offline run file under a W&B directory, oldest first."""
    return sorted(folder.glob("wandb/offline-run-*/run-*.wandb"))
