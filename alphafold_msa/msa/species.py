"""Species keys of alignment rows, read from their names and headers, for pairing the chains of a complex.

Each row gets at most one key, the first of these that its header carries:
1. an explicit key: `key=VALUE` anywhere in the header (or a row name listed in a `--pair-keys` file,
   which adds `key=VALUE` to that row's header);
2. an NCBI taxonomy id: `OX=9606` (UniProt FASTA headers, jackhmmer's `#=GS ... DE` lines) or
   `TaxID=9606` (UniRef headers);
3. a UniProt species mnemonic: from `sp|P69905|HBA_HUMAN` or `tr|A0A146SKV9|A0A146SKV9_FUNHE`
   (AlphaFold's own pattern) or a bare entry name as Pfam writes it, `COATB_BPIKE/30-81` -> `BPIKE`.
Keys carry their kind (`taxid:9606`, `mnemonic:HUMAN`, `key:...`), so keys of different kinds never match.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from alphafold_msa import settings
from alphafold_msa.errors import MsaError, MsaTooLargeError
from alphafold_msa.msa.alignment import Msa
from alphafold_msa.msa.limits import AlignmentLimits

KINDS = ("key", "taxid", "mnemonic")  # in order of priority
KIND_NAMES = {"key": "explicit keys (key=VALUE)", "taxid": "NCBI taxonomy ids (OX= / TaxID=)",
              "mnemonic": "UniProt species mnemonics (NAME_SPECIES)"}
MAX_PAIR_KEYS_BYTES = 200_000_000
_EXPLICIT = re.compile(r"(?:^|\s)key=(\S+)")
_TAXID = re.compile(r"(?:^|\s)(?:OX|TaxID)=(\d+)(?=\s|$)")
# AlphaFold's `_UNIPROT_PATTERN` (alphafold.data.msa_identifiers): db|accession|ENTRY_SPECIES.
_UNIPROT = re.compile(r"^(?:tr|sp)\|[A-Za-z0-9]{6,10}(?:_\d)?\|[A-Za-z0-9]+_([A-Za-z0-9]{1,5})(?:_\d+)?$")
# A bare UniProt entry name (Pfam, HMMER): upper-case NAME_SPECIES, the species code 3-5 characters with a letter.
_ENTRY_NAME = re.compile(r"^[A-Z0-9]{1,10}_((?=[A-Z0-9]*[A-Z])[A-Z0-9]{3,5})$")


def row_key(name: str, description: str = "") -> str:
    """The row's species key as 'kind:value', or '' when its name and header carry none."""
    header = f"{name} {description}"
    explicit = _EXPLICIT.search(header) if "key=" in header else None  # substring tests first: fast on deep MSAs
    if explicit:
        return f"key:{explicit.group(1)}"
    taxid = _TAXID.search(header) if "X=" in header or "TaxID=" in header else None
    if taxid:
        return f"taxid:{taxid.group(1)}"
    identifier = name.partition("/")[0]
    mnemonic = _UNIPROT.match(identifier) or _ENTRY_NAME.match(identifier)
    return f"mnemonic:{mnemonic.group(1)}" if mnemonic else ""


def chain_keys(msa: Msa, max_key_chars: int | None = None) -> np.ndarray:
    """Every row's key ('' for none); the query row (row 0) never has one: queries are paired with each other.
    A key longer than `max_key_chars` (default $ALPHAFOLD_MSA_MAX_KEY_CHARS) is refused, naming the row."""
    max_key_chars = max_key_chars or AlignmentLimits.from_settings(query_length=False).max_key_chars
    keys = np.array([""] + [row_key(msa.names[row], msa.description(row)) for row in range(1, msa.depth)],
                    dtype=object)
    too_long = np.flatnonzero(np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)) > max_key_chars)
    if too_long.size:
        row = int(too_long[0])
        raise MsaTooLargeError(f"{msa.source}: row '{msa.names[row][:60]}' carries a species key of {len(keys[row]):,} "
                               f"characters, over the {max_key_chars:,} a pairing key may have "
                               f"({settings.MAX_KEY_CHARS.name} raises this limit)")
    return keys


def key_kind(key: str) -> str:
    return key.partition(":")[0]


def read_pair_keys(path: str | Path) -> dict[str, str]:
    """A two-column file, row name then key (tab-separated, or the first space separates), '#' lines skipped.
    Spaces inside a key become '_' (so 'Homo sapiens' works as one key)."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PAIR_KEYS_BYTES + 1)
    except OSError as error:
        raise MsaError(f"{source}: cannot read the pairing keys ({error.strerror})") from None
    if len(data) > MAX_PAIR_KEYS_BYTES:
        raise MsaError(f"{source}: the pairing-key file is larger than {MAX_PAIR_KEYS_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MsaError(f"{source}: is not UTF-8 text (byte {error.start}); expected 'row name<TAB>key' lines") from None
    table: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split(None, 1)
        fields = [field.strip() for field in fields]
        if len(fields) != 2 or not all(fields):
            raise MsaError(f"{source}: line {number}: expected 'row name<TAB>key', found {line[:60]!r}")
        name, key = fields[0], "_".join(fields[1].split())
        if table.get(name, key) != key:
            raise MsaError(f"{source}: line {number}: row '{name}' already has the key '{table[name]}'")
        table[name] = key
    if not table:
        raise MsaError(f"{source}: no 'row name<TAB>key' lines found")
    return table


def apply_pair_keys(msa: Msa, table: dict[str, str]) -> tuple[Msa, int]:
    """`msa` with `key=VALUE` put first in the header of each row the table names (by its full name, or the
    name without '/start-end'), and the number of such rows. The query row is left as it is."""
    descriptions = [msa.description(row) for row in range(msa.depth)]
    matched = 0
    for row in range(1, msa.depth):
        name = msa.names[row]
        key = table.get(name, table.get(name.partition("/")[0]))
        if key is not None:
            descriptions[row] = f"key={key} {descriptions[row]}".rstrip()
            matched += 1
    return (dataclasses.replace(msa, descriptions=descriptions) if matched else msa), matched
