"""Where a command writes, decided and checked before any work: the top model's file in each structure
format (--output and --format) with the files beside it, and the folders (--output-dir). A path that
cannot be written, that is one of the command's inputs, or a file of the user's that a job's file would
replace fails here, in one line, before an alignment is sent or a model runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from alphafold_msa.errors import UserError
from alphafold_msa.launcher.output_folder import check_free
from alphafold_msa.protocol.archive import FIXED_RESULT_FILES, REPORT_FILE

# --output's suffix names its structure format.
STRUCTURE_SUFFIXES = {".pdb": "pdb", ".ent": "pdb", ".cif": "cif", ".mmcif": "cif"}
# The files a user looks at first, copied next to --output as <stem>_<name> (summary as <stem>.summary.*).
BESIDE_OUTPUT = ("plddt.png", "pae.png", "coverage.png", REPORT_FILE)
SUMMARIES = ("summary.json", "summary.txt")


def suffix_format(output: str | Path) -> str:
    """'cif' for model.cif, 'pdb' for model.pdb; UserError for a name without a structure suffix."""
    fmt = STRUCTURE_SUFFIXES.get(Path(output).suffix.lower())
    if Path(output).is_dir():
        raise UserError(_folder_message(str(output), Path(output)))
    if fmt is None:
        raise UserError(f"--output {output}: name the structure file with .pdb or .cif (its suffix sets the "
                        f"format; --format pdb,cif writes both, side by side)")
    return fmt


def structure_formats(output: str | None, formats: Sequence[str] | None) -> list[str] | None:
    """The formats to write: --format's (the one --output's suffix names first), else that one, else None
    (the job's default). UserError when --output's suffix names a format --format leaves out."""
    if output is None:
        return list(formats) if formats else None
    named = suffix_format(output)
    if formats is None:
        return [named]
    if named not in formats:
        raise UserError(f"--output {output} names a {named} file, but --format asks for {','.join(formats)} only: "
                        f"add {named} to --format or change the file name")
    return sorted(formats, key=lambda fmt: fmt != named)


def structure_paths(output: Path, formats: Sequence[str]) -> dict[str, Path]:
    """The top model's file per format: --output itself for the format its suffix names, the others beside it
    (model.pdb -> model.cif)."""
    named = suffix_format(output)
    return {fmt: output if fmt == named else output.with_suffix(f".{fmt}") for fmt in formats}


def beside_paths(output: Path) -> dict[str, Path]:
    """Where a job's plots and summary are copied next to --output: name in the job's folder -> path."""
    return {**{name: output.with_name(f"{output.stem}_{name}") for name in BESIDE_OUTPUT},
            **{name: output.with_suffix(f".{name}") for name in SUMMARIES}}


def output_files(output: Path, formats: Sequence[str]) -> list[Path]:
    """Every file written for --output: the structures, the scores and the files beside them."""
    return [*structure_paths(output, formats).values(), output.with_suffix(".scores.json"),
            *beside_paths(output).values()]


def check_output_paths(output: str | None, output_dir: str | None, formats: Sequence[str],
                       inputs: Sequence[str] = (), adopted: bool = False, job_folder: bool = True) -> None:
    """Every file and folder the command will write can be written: none is a folder or one of `inputs`,
    no --output-dir is a file or a dangling link, each lies in a folder this user can write in (or can make),
    and no job file would replace a file of the user's in --output-dir (a `job_folder`, not a batch's). With
    `adopted`, --output's files lie in --output-dir and count among the job's files there (one alignment with
    --output-dir only)."""
    given = {_resolved(path) for path in inputs}
    if output is not None:
        for path in output_files(Path(output), formats):
            if path.is_dir() or (output_dir is not None and _resolved(path) == _resolved(output_dir)):
                raise UserError(_folder_message(output, path))
            if _resolved(path) in given:
                raise UserError(f"--output {output}: {path} is one of the command's inputs; choose another name")
            _check_writable_folder(path.parent, f"--output {output}")
    if output_dir is not None:
        folder = Path(output_dir)
        if folder.is_symlink() and not folder.exists():
            raise UserError(f"--output-dir {output_dir} is a link to nothing")
        if folder.exists() and not folder.is_dir():
            raise UserError(f"--output-dir {output_dir} is a file, not a folder")
        _check_writable_folder(folder, f"--output-dir {output_dir}")
        if job_folder:
            implied = output_files(Path(output), formats) if adopted and output is not None else []
            check_free(folder, [*FIXED_RESULT_FILES, *(path.name for path in implied)])


def _folder_message(output: str, path: Path) -> str:
    return (f"--output {output}: {path} is a folder; name the structure file (e.g. {path / 'model.pdb'}), or give "
            f"--output-dir {path} for every file of the job")


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def _check_writable_folder(folder: Path, flag: str) -> None:
    """`folder` exists and can be written in, or its nearest existing parent is a folder that can."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{flag}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag}: cannot write in {existing} (permission denied)")
