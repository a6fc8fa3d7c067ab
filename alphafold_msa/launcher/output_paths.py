"""Where a command writes, decided and checked before any work: the top model's file in each structure
format (--output and --format), and the folders (--output-dir). A path that cannot be written fails
here, in one line, before an alignment is sent or a model runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from alphafold_msa.errors import UserError

# --output's suffix names its structure format; a file without one of these gets the first --format.
STRUCTURE_SUFFIXES = {".pdb": "pdb", ".ent": "pdb", ".cif": "cif", ".mmcif": "cif"}


def suffix_format(output: str | Path) -> str | None:
    """'cif' for model.cif, 'pdb' for model.pdb, None for a name without a structure suffix."""
    return STRUCTURE_SUFFIXES.get(Path(output).suffix.lower())


def structure_formats(output: str | None, formats: Sequence[str] | None) -> list[str] | None:
    """The formats to write: --format's (the one --output's suffix names first), else that one, else None
    (the job's default). UserError when --output's suffix names a format --format leaves out."""
    named = suffix_format(output) if output else None
    if formats is None:
        return [named] if named else None
    if named is not None and named not in formats:
        raise UserError(f"--output {output} names a {named} file, but --format asks for {','.join(formats)} only: "
                        f"add {named} to --format or change the file name")
    return sorted(formats, key=lambda fmt: fmt != named)


def structure_paths(output: Path, formats: Sequence[str]) -> dict[str, Path]:
    """The top model's file per format: --output itself for the format its suffix names (or for the first
    format, when the name has no structure suffix), the others beside it (model.pdb -> model.cif)."""
    named = suffix_format(output)
    own = named or formats[0]
    return {fmt: output if fmt == own else output.with_suffix(f".{fmt}") if named else
            output.with_name(f"{output.name}.{fmt}") for fmt in formats}


def check_output_paths(output: str | None, output_dir: str | None, formats: Sequence[str]) -> None:
    """Every file and folder the command will write can be written: no structure path is a folder, no
    --output-dir is a file, and each lies in a folder this user can write in (or can make)."""
    if output is not None:
        files = [*structure_paths(Path(output), formats).values(), Path(output).with_suffix(".scores.json")]
        for path in files:
            if path.is_dir():
                raise UserError(f"--output {output}: {path} is a folder; name the structure file (e.g. "
                                f"{path / 'model.pdb'}), or give --output-dir {path} for every file of the job")
            _check_writable_folder(path.parent, f"--output {output}")
    if output_dir is not None:
        folder = Path(output_dir)
        if folder.exists() and not folder.is_dir():
            raise UserError(f"--output-dir {output_dir} is a file, not a folder")
        _check_writable_folder(folder, f"--output-dir {output_dir}")


def _check_writable_folder(folder: Path, flag: str) -> None:
    """`folder` exists and can be written in, or its nearest existing parent is a folder that can."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{flag}: {existing} is a file, so {folder} cannot be a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag}: cannot write in {existing} (permission denied)")
