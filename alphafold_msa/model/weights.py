"""Locating, checking and loading AlphaFold parameters in the official `params_model_*.npz` layout."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

from alphafold_msa import settings
from alphafold_msa.errors import WeightsError

RUNPOD_VOLUME = Path("/runpod-volume")
OFFICIAL_ARCHIVE = "alphafold_params_2022-12-06.tar"
OFFICIAL_URL = f"https://storage.googleapis.com/alphafold/{OFFICIAL_ARCHIVE}"
# The SHA-256 of OFFICIAL_ARCHIVE, checked when PARAMS_URL is not overridden. To be filled in with the
# published value once verified against a download; until then PARAMS_SHA256 gives it.
OFFICIAL_SHA256: str | None = None


@dataclasses.dataclass(frozen=True)
class ParamsArchive:
    """One official parameter archive: what it is, where it is published, the settings that point to a mirror
    and give its SHA-256, the parameter names (suffixes after model_N) taken from it, and the name its download
    resumes under (one per archive: a partial download of one is never continued from another's URL)."""

    label: str
    official_url: str
    url_setting: settings.Setting
    sha256_setting: settings.Setting
    suffixes: tuple[str, ...]
    partial_name: str
    official_sha256: str | None = None

    def url(self) -> str:
        """Where it is fetched from: its mirror setting, else the official URL."""
        return settings.params_url(self.url_setting) or self.official_url


# The 2022-12-06 archive (AlphaFold 2.3: the monomer, pTM and multimer v3 sets) is the one start.sh provisions; the
# older ones hold AlphaFold-Multimer v2 and v1, fetched when a job first asks for them.
ARCHIVES = (
    ParamsArchive("AlphaFold 2.3's weights", OFFICIAL_URL, settings.PARAMS_URL, settings.PARAMS_SHA256,
                  ("", "_ptm", "_multimer_v3"), "alphafold_params.tar.partial", OFFICIAL_SHA256),
    ParamsArchive("AlphaFold-Multimer v2's weights", "https://storage.googleapis.com/alphafold/"
                  "alphafold_params_2022-03-02.tar", settings.PARAMS_URL_MULTIMER_V2,
                  settings.PARAMS_SHA256_MULTIMER_V2, ("_multimer_v2",), "alphafold_params_2022-03-02.tar.partial"),
    ParamsArchive("AlphaFold-Multimer v1's weights", "https://storage.googleapis.com/alphafold/"
                  "alphafold_params_2021-10-27.tar", settings.PARAMS_URL_MULTIMER_V1,
                  settings.PARAMS_SHA256_MULTIMER_V1, ("_multimer",), "alphafold_params_2021-10-27.tar.partial"),
)


def archive_of(name: str) -> ParamsArchive:
    """The archive parameter set `name` (model_1_ptm, model_2_multimer_v2, ...) comes from."""
    suffix = name.split("_", 2)[2] if name.count("_") >= 2 else ""
    return next(archive for archive in ARCHIVES if (f"_{suffix}" if suffix else "") in archive.suffixes)
_EVOFORMER_PROBE = "alphafold/alphafold_iteration/evoformer/evoformer_iteration/msa_transition/transition1//weights"
_EXTRA_MSA_PROBE = "alphafold/alphafold_iteration/evoformer/extra_msa_stack/msa_transition/transition1//weights"


def default_param_dir() -> Path:
    """$PARAM_DIR, else the RunPod network volume when mounted, else /data."""
    configured = settings.param_dir()
    if configured is not None:
        return configured
    return RUNPOD_VOLUME if RUNPOD_VOLUME.is_dir() else Path("/data")


def params_file(param_dir: str | os.PathLike, name: str) -> Path:
    """Where the official layout keeps parameter set `name` (e.g. model_3_ptm)."""
    return Path(param_dir) / "params" / f"params_{name}.npz"


def check_present(param_dir: str | os.PathLike, names: Iterable[str]) -> None:
    """Raise a WeightsError listing every missing parameter file and how to obtain them."""
    names_missing = [n for n in list(names) if not params_file(param_dir, n).is_file()]
    missing = [params_file(param_dir, n).name for n in names_missing]
    if missing:
        raise WeightsError(
            f"AlphaFold weights missing in {Path(param_dir) / 'params'} (set by --param-dir or "
            f"${settings.PARAM_DIR.name}): {', '.join(missing)}. Download "
            f"{' and '.join(dict.fromkeys(archive_of(n).official_url for n in names_missing))} and extract it "
            f"into that folder, or run with --demo-weights to try the pipeline on random weights"
        )


def _check_blocks(path: Path, evoformer_blocks: int, extra_msa_blocks: int, model_config: str) -> None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            found = (npz[_EVOFORMER_PROBE].shape[0], npz[_EXTRA_MSA_PROBE].shape[0])
    except KeyError:
        raise WeightsError(f"{path}: not an AlphaFold monomer parameter file (no Evoformer weights)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise WeightsError(f"{path}: damaged or incomplete parameter file ({error})") from None
    if found != (evoformer_blocks, extra_msa_blocks):
        raise WeightsError(
            f"{path}: weights with {found[0]} Evoformer and {found[1]} extra-MSA blocks do not fit the "
            f"'{model_config}' model config ({evoformer_blocks} and {extra_msa_blocks}); "
            f"choose the model config the weights were made for (--model-config / ALPHAFOLD_MSA_MODEL_CONFIG)"
        )


def load_params(param_dir: str | os.PathLike, name: str, network_config, model_config: str) -> dict:
    """Load parameter set `name` with the `alphafold` loader, checked against the network config
    (template modules included, where the file has them)."""
    from alphafold.model import data

    path = params_file(param_dir, name)
    check_present(param_dir, [name])
    evo = network_config.model.embeddings_and_evoformer
    _check_blocks(path, evo.evoformer_num_block, evo.extra_msa_stack_num_block, model_config)
    return data.get_model_haiku_params(name, str(param_dir), fuse=True)


def without_templates(params: dict) -> dict:
    """`params` without the template modules, for the template-free network (no copy of the arrays)."""
    return {scope: value for scope, value in params.items() if "/template_" not in scope}
