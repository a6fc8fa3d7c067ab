"""Reading an alignment from a file or text: decompression, text checks, format detection, dispatch."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import lzma
import os
import zlib
from pathlib import Path
from typing import BinaryIO, Callable

from alphafold_msa import settings
from alphafold_msa.errors import MsaError, MsaTooLargeError
from alphafold_msa.msa.alignment import Msa, Records, encode_a3m, encode_aligned
from alphafold_msa.msa.clustal import parse_clustal
from alphafold_msa.msa.complex import ComplexMsa, is_complex_header, parse_colabfold_complex
from alphafold_msa.msa.fasta import read_records
from alphafold_msa.msa.stockholm import parse_stockholm

FORMATS = ("a3m", "a2m", "fasta", "stockholm", "clustal")
_CHUNK = 1 << 20
_OPENERS: tuple[tuple[bytes, Callable[[BinaryIO], BinaryIO]], ...] = (
    (b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw)), (b"BZh", bz2.BZ2File), (b"\xfd7zXZ\x00", lzma.LZMAFile))


def read_limited(raw: BinaryIO, source: str, limit: int | None = None) -> bytearray:
    """All of `raw`, decompressed as a stream when it starts with gzip/bzip2/xz magic bytes; refused
    once it passes `limit` bytes (default $ALPHAFOLD_MSA_MAX_MSA_BYTES), before more is held in memory."""
    limit = limit or settings.max_msa_bytes()
    start = raw.read(6)
    stream = io.BufferedReader(_Prefixed(start, raw))
    opener = next((open_ for magic, open_ in _OPENERS if start.startswith(magic)), None)
    data = bytearray()
    try:
        reader = opener(stream) if opener else stream
        while chunk := reader.read(_CHUNK):
            data += chunk
            if len(data) > limit:
                raise MsaTooLargeError(f"{source}: the alignment is larger than the {limit:,}-byte limit once "
                                       f"decompressed ({settings.MAX_MSA_BYTES.name})")
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
        raise MsaError(f"{source}: compressed file is damaged ({error})") from None
    return data


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


def alignment_lines(data: bytes | bytearray, source: str) -> list[str]:
    """Decompress (gzip/bzip2/xz by magic bytes, within the size limit), decode UTF-8 (BOM and CRLF
    accepted), split lines."""
    return _text_lines(read_limited(io.BytesIO(data), source), source)


def _text_lines(data: bytearray, source: str) -> list[str]:
    """Decoded (UTF-8, BOM and CRLF accepted) and split lines of uncompressed alignment bytes."""
    if b"\x00" in data[:65536]:
        raise MsaError(f"{source}: is a binary file, not an alignment (expected text)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MsaError(f"{source}: is not UTF-8/ASCII text (byte {error.start}); expected a text alignment") from None
    if not text.strip():
        raise MsaError(f"{source}: is empty; expected an alignment (a3m, Stockholm, aligned FASTA or Clustal)")
    return text.splitlines()


def _detect_syntax(lines: list[str], source: str) -> str:
    """'stockholm', 'clustal' or 'records' ('>'-headed: a3m or aligned FASTA), from the first line."""
    first = next(line.strip() for line in lines if line.strip())
    if first.upper().startswith("# STOCKHOLM"):
        return "stockholm"
    if first.upper().startswith(("CLUSTAL", "MUSCLE", "MAFFT")):
        return "clustal"
    if first.startswith((">", "#")):
        return "records"
    if first.startswith("<"):
        raise MsaError(f"{source}: looks like an HTML/XML page, not an alignment (line 1 starts with {first[:30]!r})")
    raise MsaError(
        f"{source}: not a recognised alignment; expected Stockholm ('# STOCKHOLM 1.0'), a3m or aligned "
        f"FASTA ('>' headers) or Clustal ('CLUSTAL'), but the file starts with {first[:40]!r}"
    )


def _fasta_kind(records: Records) -> str:
    """Rows of one length are aligned FASTA; rows of different lengths are a3m, unless no row marks
    an insertion (lower case or '.'): then they are aligned FASTA whose rows do not line up."""
    if len({len(row) for row in records.rows}) == 1:
        return "fasta"
    return "a3m" if any("." in row or row != row.upper() for row in records.rows) else "fasta"


def detect_format(lines: list[str], source: str) -> str:
    """Name the format from the content: Stockholm/Clustal by header, a3m vs aligned FASTA by row lengths."""
    syntax = _detect_syntax(lines, source)
    return _fasta_kind(read_records(lines, source, "a3m")) if syntax == "records" else syntax


def parse_input(text: str | bytes, format: str | None = None, query: str | None = None,
                source: str = "<input>") -> Msa | ComplexMsa:
    """An alignment (`Msa`) or, for ColabFold's complex a3m, a `ComplexMsa`, from text or compressed bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return _parse_input_lines(alignment_lines(data, source), format, query, source)


def _parse_input_lines(lines: list[str], format: str | None, query: str | None, source: str) -> Msa | ComplexMsa:
    """An `Msa` or, from a complex header, a `ComplexMsa`, from the alignment's lines."""
    first = next(index for index, line in enumerate(lines) if line.strip())
    if is_complex_header(lines[first], source):
        if format not in (None, "a3m"):
            raise MsaError(f"{source}: line {first + 1} is ColabFold's complex header, but the format was given "
                           f"as '{format}'")
        if query is not None:
            raise MsaError(f"{source}: a complex a3m has one query per chain; a query name cannot be chosen")
        return parse_colabfold_complex(lines[first:], source)
    return _parse_lines(lines, format, query, source)


def parse_msa(text: str | bytes, format: str | None = None, query: str | None = None,
              source: str = "<input>") -> Msa:
    """Parse alignment text (or compressed bytes) in any supported format, detected unless given."""
    return _single_chain(parse_input(text, format, query, source), source)


def _single_chain(parsed: Msa | ComplexMsa, source: str) -> Msa:
    """`parsed`, refused when it is a complex."""
    if isinstance(parsed, ComplexMsa):
        raise MsaError(f"{source}: is ColabFold's complex a3m ({parsed.num_chains} chains), not a single-chain "
                       "alignment; read it with read_input / parse_input")
    return parsed


def _parse_lines(lines: list[str], format: str | None, query: str | None, source: str) -> Msa:
    if format is not None and format not in FORMATS:
        raise MsaError(f"{source}: unknown format '{format}'; expected one of {', '.join(FORMATS)}")
    syntax = format if format in ("stockholm", "clustal") else None
    syntax = syntax or ("records" if format else _detect_syntax(lines, source))
    if syntax == "stockholm":
        return parse_stockholm(lines, source, query)
    if syntax == "clustal":
        return parse_clustal(lines, source, query)
    records = read_records(lines, source, "a3m")  # read once, then decide a3m or FASTA
    kind = format or _fasta_kind(records)
    encode = encode_aligned if kind == "fasta" else encode_a3m
    return encode(dataclasses.replace(records, format=kind).select_query(query))


def read_msa(path: str | os.PathLike, format: str | None = None, query: str | None = None) -> Msa:
    """Read an alignment file (a3m, a2m, Stockholm, aligned FASTA, Clustal; optionally compressed)."""
    return _single_chain(read_input(path, format, query), str(path))


def read_input(path: str | os.PathLike, format: str | None = None, query: str | None = None) -> Msa | ComplexMsa:
    """Read an alignment file, or a complex in ColabFold's complex a3m (then a `ComplexMsa`)."""
    return _parse_input_lines(_text_lines(_read_bytes(Path(path)), str(path)), format, query, str(path))


def _read_bytes(path: Path) -> bytearray:
    """The file's content, decompressed within the size limit."""
    try:
        with open(path, "rb") as raw:
            return read_limited(raw, str(path))
    except FileNotFoundError:
        raise MsaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MsaError(f"{path}: is a directory, expected an alignment file") from None
    except OSError as error:
        raise MsaError(f"{path}: cannot be read ({error.strerror})") from None
