"""Reading possibly compressed input as a stream, refused past a limit on its decompressed size.

gzip, bzip2 and xz are recognised by their magic bytes; anything else is read as it is. The limit is
counted while decompressing, so a small file that expands enormously costs no more than the limit.
Standard library only: the alignment reader, the template reader and the job protocol share it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import BinaryIO, Callable

from alphafold_msa.errors import UserError

CHUNK = 1 << 20
DAMAGED = (OSError, EOFError, lzma.LZMAError, zlib.error)
_OPENERS: tuple[tuple[bytes, Callable[[BinaryIO], io.BufferedIOBase]], ...] = (
    (b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw)), (b"BZh", bz2.BZ2File), (b"\xfd7zXZ\x00", lzma.LZMAFile))
# Past the limit: the error to raise, given the number of bytes allowed.
TooLarge = Callable[[int], Exception]


def decompressed(raw: BinaryIO, source: str, limit: int, too_large: TooLarge,
                 error: type[UserError] = UserError) -> BinaryIO:
    """`raw` decompressed as it is read when it starts with gzip/bzip2/xz magic bytes; reading past `limit`
    decompressed bytes raises `too_large(limit)`, so nothing beyond it is ever held. A damaged stream raises
    `error` naming `source` (here for a damaged header; the reader turns DAMAGED errors into `damaged(...)`)."""
    start = raw.read(6)
    stream = io.BufferedReader(_Prefixed(start, raw))
    opener = next((open_ for magic, open_ in _OPENERS if start.startswith(magic)), None)
    try:
        reader = opener(stream) if opener else stream
    except DAMAGED as problem:
        raise damaged(source, problem, error) from None
    return io.BufferedReader(_Counted(reader, limit, too_large), CHUNK)


def damaged(source: str, problem: BaseException, error: type[UserError] = UserError) -> UserError:
    """The `error` for a compressed stream that cannot be decompressed."""
    return error(f"{source}: compressed file is damaged ({problem})")


def read_limited(raw: BinaryIO, source: str, limit: int, too_large: TooLarge,
                 error: type[UserError] = UserError) -> bytes:
    """All of `raw`, decompressed (see `decompressed`), refused past `limit` bytes."""
    data = bytearray()
    stream = decompressed(raw, source, limit, too_large, error)
    try:
        while chunk := stream.read(CHUNK):
            data += chunk
    except DAMAGED as problem:
        raise damaged(source, problem, error) from None
    return bytes(data)


class _Counted(io.RawIOBase):
    """A stream that refuses to be read past `limit` bytes."""

    def __init__(self, reader: io.BufferedIOBase, limit: int, too_large: TooLarge):
        self.reader, self.limit, self.too_large, self.count = reader, limit, too_large, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.reader.read(min(len(buffer), CHUNK))
        self.count += len(data)
        if self.count > self.limit:
            raise self.too_large(self.limit)
        buffer[:len(data)] = data
        return len(data)


class _Prefixed(io.RawIOBase):
    """`raw` with the bytes already read from it (`head`) put back in front."""

    def __init__(self, head: bytes, raw: BinaryIO):
        self.head, self.raw = head, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size], self.head = self.head[:size], self.head[size:]
            return size
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)
