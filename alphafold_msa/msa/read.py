"""Reading an alignment from a file or text, as a stream: decompression, text checks, format detection,
dispatch to the format's reader, all within the limits of alphafold_msa.msa.limits."""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
from typing import BinaryIO, Callable, Iterator

from alphafold_msa import settings
from alphafold_msa.compression import DAMAGED, damaged, decompressed
from alphafold_msa.errors import MsaError, MsaTooLargeError
from alphafold_msa.msa.alignment import Msa, Records, encode_a3m, encode_aligned
from alphafold_msa.msa.clustal import read_clustal_records
from alphafold_msa.msa.complex import ComplexMsa, is_complex_header, parse_colabfold_complex
from alphafold_msa.msa.fasta import check_query_length, read_records
from alphafold_msa.msa.limits import AlignmentLimits, ReadBudget
from alphafold_msa.msa.stockholm import read_stockholm_records
from alphafold_msa.protocol.schema import MSA_FORMATS

FORMATS = MSA_FORMATS
_BINARY_CHECK_CHARS = 65536
NumberedLines = Iterator[tuple[int, str]]


def _too_large(source: str) -> Callable[[int], MsaTooLargeError]:
    return lambda limit: MsaTooLargeError(f"{source}: the alignment is larger than the {limit:,}-byte limit once "
                                          f"decompressed ({settings.MAX_MSA_BYTES.name})")


def numbered_lines(raw: BinaryIO, source: str, limits: AlignmentLimits) -> NumberedLines:
    """(line number, text) of each line of an alignment file, decompressed and decoded as they are read
    (UTF-8, BOM and CRLF accepted): no line is held beyond the reader's own use of it, no line may be
    longer than a row with its name (the columns and header limits), and there are at most `max_lines`."""
    stream = decompressed(raw, source, limits.max_bytes, _too_large(source), MsaError)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline=None)
    longest = limits.max_columns + limits.max_header_chars + 100
    number, checked = 0, 0
    try:
        while line := text.readline(longest + 1):
            number += 1
            if number > limits.max_lines:
                raise MsaTooLargeError(f"{source}: more than {limits.max_lines:,} lines, the most one alignment file "
                                       f"may have ({settings.MAX_LINES.name} raises this limit)")
            if len(line) > longest:
                raise MsaTooLargeError(f"{source}: line {number} is longer than {longest:,} characters, the most "
                                       f"a row with its name may have ({settings.MAX_COLUMNS.name}, "
                                       f"{settings.MAX_HEADER_CHARS.name})")
            if checked < _BINARY_CHECK_CHARS:
                checked += len(line)
                if "\x00" in line:
                    raise MsaError(f"{source}: is a binary file, not an alignment (expected text)")
            yield number, line[:-1] if line[-1] == "\n" else line
    except UnicodeDecodeError:
        raise MsaError(f"{source}: line {number + 1} is not UTF-8/ASCII text; expected a text alignment") from None
    except DAMAGED as error:
        raise damaged(source, error, MsaError) from None


def alignment_lines(data: bytes | bytearray, source: str, limits: AlignmentLimits | None = None) -> list[str]:
    """Decompress (gzip/bzip2/xz by magic bytes), decode UTF-8 (BOM and CRLF accepted) and split the
    lines of alignment bytes, within `limits` (default: the settings')."""
    limits = limits or AlignmentLimits.from_settings()
    return [line for _, line in numbered_lines(io.BytesIO(data), source, limits)]


def _first_line(lines: NumberedLines, source: str) -> tuple[int, str]:
    """The first line that is not blank; an error for a file without one."""
    for number, line in lines:
        if line.strip():
            return number, line
    raise MsaError(f"{source}: is empty; expected an alignment (a3m, Stockholm, aligned FASTA or Clustal)")


def _detect_syntax(first: str, source: str) -> str:
    """'stockholm', 'clustal' or 'records' ('>'-headed: a3m or aligned FASTA), from the first line that is
    not blank."""
    first = first.strip()
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


def detect_format(lines: list[str], source: str, limits: AlignmentLimits | None = None) -> str:
    """Name the format from the content: Stockholm/Clustal by header, a3m vs aligned FASTA by row lengths."""
    numbered = enumerate(lines, start=1)
    first = _first_line(numbered, source)
    syntax = _detect_syntax(first[1], source)
    if syntax != "records":
        return syntax
    limits = limits or AlignmentLimits.from_settings()
    return _fasta_kind(read_records(itertools.chain([first], numbered), source, "a3m", ReadBudget(limits, source)))


def parse_input(text: str | bytes, format: str | None = None, query: str | None = None,
                source: str = "<input>", limits: AlignmentLimits | None = None) -> Msa | ComplexMsa:
    """An alignment (`Msa`) or, for ColabFold's complex a3m, a `ComplexMsa`, from text or compressed bytes,
    within `limits` (default: the settings')."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return _parse_stream(io.BytesIO(data), format, query, source, limits)


def _parse_stream(raw: BinaryIO, format: str | None, query: str | None, source: str,
                  limits: AlignmentLimits | None) -> Msa | ComplexMsa:
    """An `Msa` or, from a complex header, a `ComplexMsa`, read from `raw` as a stream within `limits`."""
    budget = ReadBudget(limits or AlignmentLimits.from_settings(), source)
    lines = numbered_lines(raw, source, budget.limits)
    first = _first_line(lines, source)
    lines = itertools.chain([first], lines)
    if is_complex_header(first[1], source):
        if format not in (None, "a3m"):
            raise MsaError(f"{source}: line {first[0]} is ColabFold's complex header, but the format was given "
                           f"as '{format}'")
        if query is not None:
            raise MsaError(f"{source}: a complex a3m has one query per chain; a query name cannot be chosen")
        return parse_colabfold_complex(lines, source, budget)
    return _parse_lines(first[1], lines, format, query, budget)


def parse_msa(text: str | bytes, format: str | None = None, query: str | None = None,
              source: str = "<input>", limits: AlignmentLimits | None = None) -> Msa:
    """Parse alignment text (or compressed bytes) in any supported format, detected unless given."""
    return _single_chain(parse_input(text, format, query, source, limits), source)


def _single_chain(parsed: Msa | ComplexMsa, source: str) -> Msa:
    """`parsed`, refused when it is a complex."""
    if isinstance(parsed, ComplexMsa):
        raise MsaError(f"{source}: is ColabFold's complex a3m ({parsed.num_chains} chains), not a single-chain "
                       "alignment; read it with read_input / parse_input")
    return parsed


def _parse_lines(first: str, lines: NumberedLines, format: str | None, query: str | None,
                 budget: ReadBudget) -> Msa:
    source = budget.source
    if format is not None and format not in FORMATS:
        raise MsaError(f"{source}: unknown format '{format}'; expected one of {', '.join(FORMATS)}")
    syntax = format if format in ("stockholm", "clustal") else None
    syntax = syntax or ("records" if format else _detect_syntax(first, source))
    if syntax == "stockholm":
        records = read_stockholm_records(lines, budget)
    elif syntax == "clustal":
        records = read_clustal_records(lines, budget)
    else:
        records = read_records(lines, source, "a3m", budget, first_is_query=query is None)
        records = dataclasses.replace(records, format=format or _fasta_kind(records))
    records = records.select_query(query)
    check_query_length(records, budget)
    return (encode_aligned if records.format in ("fasta", "stockholm", "clustal") else encode_a3m)(records)


def read_msa(path: str | os.PathLike, format: str | None = None, query: str | None = None,
             limits: AlignmentLimits | None = None) -> Msa:
    """Read an alignment file (a3m, a2m, Stockholm, aligned FASTA, Clustal; optionally compressed)."""
    return _single_chain(read_input(path, format, query, limits), str(path))


def read_input(path: str | os.PathLike, format: str | None = None, query: str | None = None,
               limits: AlignmentLimits | None = None) -> Msa | ComplexMsa:
    """Read an alignment file, or a complex in ColabFold's complex a3m (then a `ComplexMsa`), as a stream
    within `limits` (default: the settings', see alphafold_msa.msa.limits)."""
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise MsaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MsaError(f"{path}: is a directory, expected an alignment file") from None
    except OSError as error:
        raise MsaError(f"{path}: cannot be read ({error.strerror})") from None
    with raw:
        return _parse_stream(raw, format, query, str(path), limits)
