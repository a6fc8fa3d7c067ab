"""Template structures (PDB or mmCIF) read with Biopython into protein chains: sequence and residues.

What is kept: the first model; per chain, the polymer residues in file order (insertion codes
included), modified amino acids under their parent's letter (MSE -> M, ...), every atom at its
first alternate location. Waters, ligands and other hetero groups are ignored, as are nucleic
acid chains. Residues missing from the coordinates are simply absent (they stay masked once
aligned). Client-safe: Biopython and the standard library only.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path

from alphafold_msa.compression import read_limited
from alphafold_msa.errors import TemplateError
from alphafold_msa.protocol.schema import MAX_STRUCTURE_BYTES

STRUCTURE_FORMATS = ("pdb", "cif")
# A template is one protein chain or a few: a file past MAX_STRUCTURE_BYTES is refused before parsing, one
# with more atoms or chains (in its first model, the only one read) as soon as the parser builds one more.
MAX_ATOMS = 50_000
MAX_CHAINS = 62  # as many as a complex has chain IDs
_SUFFIXES = {".pdb": "pdb", ".ent": "pdb", ".cif": "cif", ".mmcif": "cif"}
_NUCLEOTIDES = {"A", "C", "G", "U", "T", "I", "N", "DA", "DC", "DG", "DT", "DU", "DI", "DN"}
# Backbone and side-chain atoms beyond CA: without them AlphaFold's template features are nearly empty.
_BACKBONE = ("N", "C")
_KEEP_CHAINS = "keep only the chain(s) you need (e.g. with pdb_selchain or gemmi)"
_COORDINATE_RECORDS = {"ATOM", "HETATM", "MODEL", "ENDMDL", "TER", "END"}


@dataclasses.dataclass(frozen=True)
class TemplateChain:
    """One protein chain: its observed residues' one-letter sequence and their Biopython ids
    (hetflag, number, insertion code) and names, in file order."""

    chain_id: str
    sequence: str
    residue_ids: tuple[tuple[str, int, str], ...]
    residue_names: tuple[str, ...]
    ca_only: bool


@dataclasses.dataclass(frozen=True)
class TemplateStructure:
    """A parsed template file: its name, format, first model (a Biopython Model) and protein chains."""

    name: str
    format: str
    model: object
    chains: dict[str, TemplateChain]
    warnings: tuple[str, ...]


def load_structure_text(path: str | Path) -> str:
    """A structure file's text (gzip/bzip2/xz decompressed), refused past MAX_STRUCTURE_BYTES."""
    path = Path(path)

    def too_large(limit: int) -> TemplateError:
        return TemplateError(f"{path}: larger than {limit:,} bytes; a template file holds a structure of at most "
                             f"{MAX_ATOMS:,} atoms")

    try:
        with path.open("rb") as handle:
            data = read_limited(handle, str(path), MAX_STRUCTURE_BYTES, too_large, TemplateError)
    except OSError as error:
        raise TemplateError(f"{path}: cannot be read ({error.strerror or error})") from None
    if b"\x00" in data[:65536]:
        raise TemplateError(f"{path}: is a binary file, not a PDB or mmCIF structure")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TemplateError(f"{path}: is not text (byte {error.start}); expected a PDB or mmCIF structure") from None


def detect_format(text: str, name: str) -> str:
    """'pdb' or 'cif': from the file name's suffix, else from the content."""
    suffixes = [s.lower() for s in Path(name).suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    if first.startswith("data_"):
        return "cif"
    if any(line.startswith(("ATOM  ", "HETATM")) for line in text.splitlines()):
        return "pdb"
    raise TemplateError(f"{name}: not a PDB or mmCIF structure (no ATOM records and no 'data_' block)")


def read_structure(text: str, name: str, format: str | None = None) -> TemplateStructure:
    """The protein chains of a structure's first model; a TemplateError naming `name` when it is not
    a structure, has too many atoms or no protein chain."""
    if len(text) > MAX_STRUCTURE_BYTES:
        raise TemplateError(f"{name}: larger than {MAX_STRUCTURE_BYTES:,} bytes; a template holds at most "
                            f"{MAX_ATOMS:,} atoms")
    format = format or detect_format(text, name)
    if format not in STRUCTURE_FORMATS:
        raise TemplateError(f"{name}: unknown structure format '{format}'; expected pdb or cif")
    model = _parse(text, name, format)
    chains, nucleic = {}, []
    for chain in model:
        parsed = _protein_chain(chain)
        if parsed is not None:
            chains[parsed.chain_id] = parsed
        elif any(r.get_resname().strip() in _NUCLEOTIDES for r in chain):
            nucleic.append(chain.id)
    if not chains:
        what = (f"only nucleic acid chains ({', '.join(nucleic)})" if nucleic
                else "no amino-acid residues in its first model")
        raise TemplateError(f"{name}: no protein chain: {what}")
    notes = tuple(f"{name} chain {c.chain_id}: only CA atoms: AlphaFold's template features use the backbone "
                  f"and side chains, so this template adds little" for c in chains.values() if c.ca_only)
    return TemplateStructure(name=name, format=format, model=model, chains=chains, warnings=notes)


class _FirstModelRead(Exception):
    """The parser reached a structure's second model: the first, which is all a template uses, is complete."""


def _counting_builder(name: str):
    """A Biopython StructureBuilder that builds the first model only (it stops the parser at the second) and
    refuses, as it builds them, an atom past MAX_ATOMS or a chain past MAX_CHAINS: the counts come from the
    parse, not from line prefixes."""
    from Bio.PDB.StructureBuilder import StructureBuilder

    class CountingBuilder(StructureBuilder):
        def __init__(self) -> None:
            super().__init__()
            self.atoms = 0
            self.chains: set[str] = set()

        def init_model(self, *args, **kwargs) -> None:
            if self.model is not None:
                raise _FirstModelRead
            super().init_model(*args, **kwargs)

        def init_chain(self, chain_id: str) -> None:
            if chain_id not in self.chains:
                self.chains.add(chain_id)
                if len(self.chains) > MAX_CHAINS:
                    raise TemplateError(f"{name}: more than {MAX_CHAINS} chains, the most a template may have; "
                                        f"{_KEEP_CHAINS}")
            super().init_chain(chain_id)

        def init_atom(self, *args, **kwargs) -> None:
            self.atoms += 1
            if self.atoms > MAX_ATOMS:
                raise TemplateError(f"{name}: more than {MAX_ATOMS:,} atoms, the most a template may have; "
                                    f"{_KEEP_CHAINS}")
            super().init_atom(*args, **kwargs)

    return CountingBuilder()


def _coordinates(text: str) -> str:
    """A PDB file's coordinate records only (atoms, models, chain ends): the header is not read, so none of
    its records (some of which Biopython parses in quadratic time) costs anything."""
    return "".join(line for line in text.splitlines(keepends=True) if line[:6].rstrip() in _COORDINATE_RECORDS)


def _parse(text: str, name: str, format: str):
    """The first model, every disordered atom and residue at its first alternate location."""
    from Bio.PDB import MMCIFParser, PDBParser

    builder = _counting_builder(name)
    parser = (PDBParser(QUIET=True, structure_builder=builder) if format == "pdb"
              else MMCIFParser(QUIET=True, structure_builder=builder))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = parser.get_structure(Path(name).stem or "template",
                                             io.StringIO(_coordinates(text) if format == "pdb" else text))
    except _FirstModelRead:
        structure = builder.get_structure()
    except TemplateError:
        raise
    # Biopython's parsers raise many kinds of error on malformed text; each means "not a structure".
    except Exception as error:
        label = "PDB" if format == "pdb" else "mmCIF"
        raise TemplateError(f"{name}: not a readable {label} structure ({type(error).__name__}: "
                            f"{str(error)[:200]})") from None
    models = list(structure)
    if not models:
        raise TemplateError(f"{name}: no atoms; expected a PDB or mmCIF structure")
    model = models[0]
    for residue in model.get_residues():
        if residue.is_disordered() == 2:  # a point mutation: two residue names at one position
            residue.disordered_select(next(iter(residue.child_dict)))
        for atom in residue:
            if atom.is_disordered():
                atom.disordered_select(next(iter(atom.child_dict)))
    return model


def _protein_chain(chain) -> TemplateChain | None:
    """The chain's amino-acid residues, or None when it has none."""
    from Bio.Data.PDBData import protein_letters_3to1_extended as three_to_one

    letters, ids, names, ca_only = [], [], [], True
    for residue in chain:
        hetflag, number, icode = residue.id
        name = residue.get_resname().strip()
        if hetflag == "W" or name in _NUCLEOTIDES:
            continue
        letter = three_to_one.get(name)
        if letter is None and hetflag.strip():
            continue  # a ligand or other hetero group
        letters.append(letter or "X")
        ids.append((hetflag, number, icode))
        names.append(name)
        ca_only = ca_only and not any(atom in residue for atom in _BACKBONE)
    if not letters or set(letters) == {"X"}:
        return None
    return TemplateChain(chain_id=chain.id, sequence="".join(letters), residue_ids=tuple(ids),
                         residue_names=tuple(names), ca_only=ca_only)
