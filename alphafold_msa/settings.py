"""Every environment variable the package reads: its name, default, meaning and the error a bad value gets.

Values are read when asked for, so a caller (a worker process, a test) controls them through the
environment alone; nothing is cached at import. An empty variable counts as unset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from alphafold_msa.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """One environment variable: `name`, its `default` (as text; None: no default), what it sets and,
    for a setting chosen from a list, the `choices`."""

    name: str
    default: str | None
    help: str
    choices: tuple[str, ...] = ()

    def raw(self) -> str | None:
        """The variable's text, or the default when it is unset or empty."""
        return os.environ.get(self.name) or self.default


SETTINGS: dict[str, Setting] = {}


def _define(name: str, default: str | None, help: str, choices: Sequence[str] = ()) -> Setting:
    SETTINGS[name] = setting = Setting(name, default, help, tuple(choices))
    return setting


# The model and the prediction.
MODEL_CONFIG = _define("ALPHAFOLD_MSA_MODEL_CONFIG", "full", "network size (reduced: tests only)", ("full", "reduced"))
RELAX = _define("ALPHAFOLD_MSA_RELAX", "best", "default Amber relaxation", ("none", "best", "all"))
RELAX_TIMEOUT = _define("ALPHAFOLD_MSA_RELAX_TIMEOUT", "600", "seconds one model's relaxation may take")
MAX_LENGTH = _define("ALPHAFOLD_MSA_MAX_LENGTH", "2500", "the longest query accepted, in residues")
KERNELS = _define("ALPHAFOLD_MSA_KERNELS", "auto", "GPU kernels", ("auto", "pallas", "cuda_legacy", "xla"))
COMPILE_MODE = _define("ALPHAFOLD_MSA_COMPILE_MODE", "tuned", "XLA GPU compilation", ("fast", "tuned", "full"))
DEVICE_MEMORY_GB = _define("ALPHAFOLD_MSA_DEVICE_MEMORY_GB", None, "device memory to plan with, in GB")
# Weights.
PARAM_DIR = _define("PARAM_DIR", None, "the weights folder (default: /runpod-volume when mounted, else /data)")
PARAMS_URL = _define("PARAMS_URL", None, "a mirror of the official weights archive")
PARAMS_SHA256 = _define("PARAMS_SHA256", None, "the weights archive's expected SHA-256")
ALPHAFOLD_MODELS = _define("ALPHAFOLD_MODELS", None, "parameter sets to extract, comma-separated (default: all)")
WEIGHTS_DEADLINE = _define("ALPHAFOLD_MSA_WEIGHTS_DEADLINE_S", "14400", "seconds the weights download may take")
DOWNLOAD_RETRIES = _define("ALPHAFOLD_MSA_DOWNLOAD_RETRIES", "5", "attempts at resuming the weights download")
ASSUME_FREE_BYTES = _define("ALPHAFOLD_MSA_ASSUME_FREE_BYTES", None, "free disk space to assume (tests)")
# Inputs and results.
MAX_MSA_BYTES = _define("ALPHAFOLD_MSA_MAX_MSA_BYTES", "2000000000", "the largest alignment, decompressed")
URL_MAX_BYTES = _define("ALPHAFOLD_MSA_URL_MAX_BYTES", "1000000000", "the largest file a job's msa_url may name")
URL_ANY_KEY = _define("ALPHAFOLD_MSA_URL_ANY_KEY", None, "1: msa_url may read any key of the worker's bucket")
DOWNLOAD_DEADLINE = _define("ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S", "1800", "seconds one download may take")
MAX_RESULT_BYTES = _define("ALPHAFOLD_MSA_MAX_RESULT_BYTES", "4000000000",
                           "the most bytes of result files the launcher downloads and unpacks")
# The worker and its bucket (RunPod's names).
WORKDIR = _define("WORKDIR", None, "where the worker keeps job folders (default: the system's temp folder)")
BUCKET_ENDPOINT_URL = _define("BUCKET_ENDPOINT_URL", None, "S3-compatible endpoint for large results")
BUCKET_ACCESS_KEY_ID = _define("BUCKET_ACCESS_KEY_ID", None, "the bucket's access key id")
BUCKET_SECRET_ACCESS_KEY = _define("BUCKET_SECRET_ACCESS_KEY", None, "the bucket's secret key")
BUCKET_NAME = _define("BUCKET_NAME", None, "the bucket (default: MM-YY, as RunPod's helpers)")
RUNPOD_HOSTED = _define("RUNPOD_WEBHOOK_POST_OUTPUT", None, "set by RunPod on its hosts: progress goes to the platform")
# The launcher.
RUNPOD_API_KEY = _define("RUNPOD_API_KEY", None, "the RunPod API key (never printed)")


def text(setting: Setting) -> str | None:
    """The setting's text as given (or its default), surrounding spaces removed."""
    value = setting.raw()
    return value.strip() if value is not None else None


def positive_int(setting: Setting, unit: str, minimum: int = 1) -> int:
    """The setting as a whole number of `unit`, at least `minimum` (1 or 0); a ConfigError naming it otherwise."""
    value = text(setting) or ""
    if not value.isdigit() or int(value) < minimum:
        kind = "positive" if minimum else "whole"
        raise ConfigError(f"{setting.name} must be a {kind} number of {unit}, got '{value}'")
    return int(value)


def positive_float(setting: Setting, unit: str) -> float:
    """The setting as a finite number of `unit` above 0; a ConfigError naming it otherwise."""
    value = text(setting) or ""
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise ConfigError(f"{setting.name} must be a positive number of {unit}, got '{value}'")
    return number


def choice(value: str | None, setting: Setting, label: str, hint: str = "") -> str:
    """`value`, else the setting; a ConfigError ('`label` must be one of ...', then `hint`) unless it
    is one of the setting's choices."""
    value = value or text(setting)
    if value not in setting.choices:
        raise ConfigError(f"{label} must be one of {', '.join(setting.choices)}, got '{value}'{hint}")
    return value


def max_query_length() -> int:
    """The longest query accepted: $ALPHAFOLD_MSA_MAX_LENGTH, else 2,500 residues."""
    return positive_int(MAX_LENGTH, "residues")


def max_msa_bytes() -> int:
    """The largest alignment text accepted once decompressed: $ALPHAFOLD_MSA_MAX_MSA_BYTES, else 2 GB."""
    return positive_int(MAX_MSA_BYTES, "bytes")


def msa_url_max_bytes() -> int:
    """The largest alignment a job's msa_url may point to: $ALPHAFOLD_MSA_URL_MAX_BYTES, else 1 GB."""
    return positive_int(URL_MAX_BYTES, "bytes")


def result_max_bytes() -> int:
    """The most bytes of a job's result files the launcher downloads, and then unpacks:
    $ALPHAFOLD_MSA_MAX_RESULT_BYTES, else 4 GB."""
    return positive_int(MAX_RESULT_BYTES, "bytes")


def relax_timeout() -> float:
    """Seconds one model's relaxation may take: $ALPHAFOLD_MSA_RELAX_TIMEOUT, else 600."""
    return positive_float(RELAX_TIMEOUT, "seconds")


def download_deadline(setting: Setting = DOWNLOAD_DEADLINE) -> float:
    """The wall-clock seconds one download may take: $ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S (30 min), or
    `setting` for another kind of download."""
    return positive_float(setting, "seconds")


def download_retries() -> int:
    """Attempts at resuming the weights download: $ALPHAFOLD_MSA_DOWNLOAD_RETRIES, else 5."""
    return positive_int(DOWNLOAD_RETRIES, "attempts", minimum=0)


def device_memory_gb() -> float | None:
    """$ALPHAFOLD_MSA_DEVICE_MEMORY_GB, or None when unset."""
    return positive_float(DEVICE_MEMORY_GB, "gigabytes") if text(DEVICE_MEMORY_GB) else None


def assumed_free_bytes() -> int | None:
    """$ALPHAFOLD_MSA_ASSUME_FREE_BYTES (free disk space to plan with), or None when unset."""
    value = text(ASSUME_FREE_BYTES)
    if value is None:
        return None
    if not value.isdigit():
        raise ConfigError(f"{ASSUME_FREE_BYTES.name} must be a number of bytes, got '{value}'")
    return int(value)


def url_any_key() -> bool:
    """Whether a job's msa_url may read any key of the worker's bucket ($ALPHAFOLD_MSA_URL_ANY_KEY=1)."""
    return text(URL_ANY_KEY) == "1"


def workdir() -> Path | None:
    """$WORKDIR, or None when unset."""
    value = text(WORKDIR)
    return Path(value) if value else None


def param_dir() -> Path | None:
    """$PARAM_DIR, or None when unset."""
    value = text(PARAM_DIR)
    return Path(value) if value else None


def model_names() -> list[str]:
    """$ALPHAFOLD_MODELS as a list of parameter set names (empty: all)."""
    return [name.strip() for name in (text(ALPHAFOLD_MODELS) or "").split(",") if name.strip()]
