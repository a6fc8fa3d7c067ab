"""What a prediction's folder records about the job, as ColabFold's does: the effective settings
(config.json), the progress messages with their times (log.txt), the alignment the network was
given (msa.a3m) and what to cite (cite.bibtex)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from alphafold_msa.files import write_atomic
from alphafold_msa.protocol.archive import REPORT_FILE
from alphafold_msa.results.types import COLABFOLD_NAME

CONFIG_FILE, LOG_FILE, ALIGNMENT_FILE, CITATIONS_FILE = "config.json", "log.txt", "msa.a3m", "cite.bibtex"
MSA_CLUSTERS_FILE = "msa_clusters.json"
CLUSTER_A3M = re.compile(r"msa_cluster_[A-Za-z0-9-]+\.a3m")
# The distributions whose versions config.json records: this package, the AlphaFold fork that runs the
# network (ColabFold's), and jax.
VERSIONED = ("alphafold-msa", "alphafold-colabfold", "jax", "jaxlib")

JUMPER_2021 = r"""@article{Jumper2021,
  author = {Jumper, John and Evans, Richard and Pritzel, Alexander and Green, Tim and Figurnov, Michael and
            Ronneberger, Olaf and Tunyasuvunakool, Kathryn and Bates, Russ and {\v{Z}}{\'{\i}}dek, Augustin and
            Potapenko, Anna and Bridgland, Alex and Meyer, Clemens and Kohl, Simon A. A. and Ballard, Andrew J. and
            Cowie, Andrew and Romera-Paredes, Bernardino and Nikolov, Stanislav and Jain, Rishub and Adler, Jonas and
            Back, Trevor and Petersen, Stig and Reiman, David and Clancy, Ellen and Zielinski, Michal and
            Steinegger, Martin and Pacholska, Michalina and Berghammer, Tamas and Bodenstein, Sebastian and
            Silver, David and Vinyals, Oriol and Senior, Andrew W. and Kavukcuoglu, Koray and Kohli, Pushmeet and
            Hassabis, Demis},
  title = {Highly accurate protein structure prediction with {AlphaFold}},
  journal = {Nature},
  volume = {596},
  number = {7873},
  pages = {583--589},
  year = {2021},
  doi = {10.1038/s41586-021-03819-2},
  comment = {AlphaFold2: the network and its weights}
}
"""
EVANS_2021 = r"""@article{Evans2021,
  author = {Evans, Richard and O'Neill, Michael and Pritzel, Alexander and Antropova, Natasha and Senior, Andrew and
            Green, Tim and {\v{Z}}{\'{\i}}dek, Augustin and Bates, Russ and Blackwell, Sam and Yim, Jason and
            Ronneberger, Olaf and Bodenstein, Sebastian and Zielinski, Michal and Bridgland, Alex and
            Potapenko, Anna and Cowie, Andrew and Tunyasuvunakool, Kathryn and Jain, Rishub and Clancy, Ellen and
            Kohli, Pushmeet and Jumper, John and Hassabis, Demis},
  title = {Protein complex prediction with {AlphaFold-Multimer}},
  journal = {bioRxiv},
  year = {2021},
  doi = {10.1101/2021.10.04.463034},
  comment = {AlphaFold-Multimer: the complex models}
}
"""
WAYMENT_STEELE_2024 = r"""@article{WaymentSteele2024,
  author = {Wayment-Steele, Hannah K. and Ojoawo, Adedolapo and Otten, Renee and Apitz, Julia M. and
            Pitsawong, Warintra and H{\"o}mberger, Marc and Ovchinnikov, Sergey and Colwell, Lucy and Kern, Dorothee},
  title = {Predicting multiple conformations via sequence clustering and {AlphaFold2}},
  journal = {Nature},
  volume = {625},
  pages = {832--839},
  year = {2024},
  doi = {10.1038/s41586-023-06832-9},
  comment = {AF-Cluster: the alignment clustered with DBSCAN, each cluster predicted}
}
"""
MIRDITA_2022 = r"""@article{Mirdita2022,
  author = {Mirdita, Milot and Sch{\"u}tze, Konstantin and Moriwaki, Yoshitaka and Heo, Lim and
            Ovchinnikov, Sergey and Steinegger, Martin},
  title = {{ColabFold}: making protein folding accessible to all},
  journal = {Nature Methods},
  volume = {19},
  number = {6},
  pages = {679--682},
  year = {2022},
  doi = {10.1038/s41592-022-01488-1},
  comment = {ColabFold: its AlphaFold fork runs the network}
}
"""
EASTMAN_2017 = r"""@article{Eastman2017,
  author = {Eastman, Peter and Swails, Jason and Chodera, John D. and McGibbon, Robert T. and Zhao, Yutong and
            Beauchamp, Kyle A. and Wang, Lee-Ping and Simmonett, Andrew C. and Harrigan, Matthew P. and
            Stern, Chaya D. and Wiewiora, Rafal P. and Brooks, Bernard R. and Pande, Vijay S.},
  title = {{OpenMM} 7: Rapid development of high performance algorithms for molecular dynamics},
  journal = {PLoS Computational Biology},
  volume = {13},
  number = {7},
  pages = {e1005659},
  year = {2017},
  doi = {10.1371/journal.pcbi.1005659},
  comment = {OpenMM: the Amber relaxation}
}
"""


def utc_timestamp() -> str:
    """Now in UTC, ISO 8601 to the millisecond: 2026-12-04T17:10:03.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobLog:
    """A job's progress messages: each is passed on to `forward` and kept, with its UTC time, for log.txt.
    Once `write_to` names the file, the lines so far go there and each later one is appended as it
    comes, flushed (a job that fails leaves its log up to then)."""

    def __init__(self, forward: Callable[[str], None]):
        self.forward = forward
        self._pending: list[str] = []
        self._stream: TextIO | None = None

    def __enter__(self) -> JobLog:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._stream is not None:
            self._stream.close()

    def __call__(self, message: str) -> None:
        self._append(f"{utc_timestamp()} {message}\n")
        self.forward(message)

    def write_to(self, path: Path) -> Path:
        """From now on, log into `path` (created or emptied), starting with the messages so far."""
        self._stream = open(path, "w", encoding="utf-8")
        for line in self._pending:
            self._append(line)
        self._pending.clear()
        return path

    def _append(self, line: str) -> None:
        if self._stream is None:
            self._pending.append(line)
        else:
            self._stream.write(line)
            self._stream.flush()


def software_versions() -> dict[str, str | None]:
    """The installed versions of VERSIONED (None for one not installed as a distribution)."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_config(output_dir: Path, config: dict[str, Any]) -> Path:
    """config.json: the job's effective settings, keys sorted."""
    path = output_dir / CONFIG_FILE
    write_atomic(path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path


def write_alignment(output_dir: Path, a3m: str) -> Path:
    """msa.a3m: the alignment the network was given (after filtering and the depth cap)."""
    path = output_dir / ALIGNMENT_FILE
    write_atomic(path, a3m)
    return path


def citations(multimer: bool, relaxed: bool, msa_clusters: bool = False) -> str:
    """BibTeX for what a job used: AlphaFold2 and ColabFold always, AlphaFold-Multimer for its models,
    OpenMM when a structure was relaxed, AF-Cluster when the alignment was clustered."""
    entries = [JUMPER_2021, *([EVANS_2021] if multimer else []), MIRDITA_2022, *([EASTMAN_2017] if relaxed else []),
               *([WAYMENT_STEELE_2024] if msa_clusters else [])]
    return "\n".join(entries)


def write_citations(output_dir: Path, multimer: bool, relaxed: bool, msa_clusters: bool = False) -> Path:
    """cite.bibtex (see `citations`)."""
    path = output_dir / CITATIONS_FILE
    write_atomic(path, citations(multimer, relaxed, msa_clusters))
    return path


def write_msa_clusters(output_dir: Path, description: dict[str, Any], alignments: Iterable[tuple[str, str]]) -> None:
    """AF-Cluster's record: msa_clusters.json (`description`: see alphafold_msa.msa.clusters.describe) and each
    cluster's or control's alignment as predicted (name, a3m text), msa_cluster_<name>.a3m as AF-Cluster writes
    them (its KEYWORD_000.a3m, KEYWORD_U10-000.a3m)."""
    write_atomic(output_dir / MSA_CLUSTERS_FILE, json.dumps(description, indent=1))
    for name, a3m in alignments:
        write_atomic(output_dir / f"msa_cluster_{name}.a3m", a3m)


def spare_files(names: Iterable[str]) -> list[str]:
    """Of a job folder's file `names`, those its results archive can do without when it must stay small
    (sorted): the copies of the ranked files under ColabFold's names, msa.a3m (the job's own input,
    filtered; the largest file for a deep alignment), AF-Cluster's alignments (msa_clusters.json names their
    rows) and report.html (the launcher writes it again from the files that came)."""
    return sorted(name for name in names if name in (ALIGNMENT_FILE, REPORT_FILE) or COLABFOLD_NAME.fullmatch(name)
                  or CLUSTER_A3M.fullmatch(name))
