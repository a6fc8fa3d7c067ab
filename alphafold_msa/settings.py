"""Every environment variable the package reads: its name, default, meaning and the error a bad value gets.

Values are read when asked for, so a caller (a worker process, a test) controls them through the
environment alone; nothing is cached at import. An empty variable counts as unset.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence, TypeVar
from urllib.parse import urlsplit

from alphafold_msa.errors import ConfigError, printable


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


def _job_field_choices(name: str) -> tuple[str, ...]:
    """The choices of a job field, as the job schema (the contract, alphafold_msa/protocol) lists them."""
    schema = json.loads(resources.files("alphafold_msa.protocol").joinpath("job_schema.json").read_text())
    return tuple(schema["properties"][name]["enum"])


# The function that reads each setting (and refuses a malformed value), by name; settings with choices
# are checked against them, and FREE_TEXT settings take any text.
READERS: dict[str, Callable[[], object]] = {}
_Reader = TypeVar("_Reader", bound=Callable[[], object])


def _reads(*read: Setting) -> Callable[[_Reader], _Reader]:
    """Register the decorated function as the reader of the settings `read`."""
    def register(reader: _Reader) -> _Reader:
        READERS.update({setting.name: reader for setting in read})
        return reader
    return register


def check_all() -> None:
    """Read every setting once: a ConfigError (one line naming the variable) for the first malformed one."""
    for setting in SETTINGS.values():
        if setting.choices:
            choice(None, setting, setting.name)
    for reader in dict.fromkeys(READERS.values()):
        reader()


# The model and the prediction.
MODEL_CONFIG = _define("ALPHAFOLD_MSA_MODEL_CONFIG", "full", "network size (reduced: tests only)", ("full", "reduced"))
RELAX = _define("ALPHAFOLD_MSA_RELAX", "best", "default Amber relaxation", _job_field_choices("relax"))
RELAX_TIMEOUT = _define("ALPHAFOLD_MSA_RELAX_TIMEOUT", "600", "seconds one model's relaxation may take")
MAX_LENGTH = _define("ALPHAFOLD_MSA_MAX_LENGTH", "2500", "the longest query accepted, in residues")
KERNELS = _define("ALPHAFOLD_MSA_KERNELS", "auto", "GPU kernels", ("auto", "pallas", "cuda_legacy", "xla"))
COMPILE_MODE = _define("ALPHAFOLD_MSA_COMPILE_MODE", "tuned", "XLA GPU compilation", ("fast", "tuned", "full"))
SAMPLES_PER_CALL = _define("ALPHAFOLD_MSA_SAMPLES_PER_CALL", "auto",
                           "samples of one model run together in one network call: auto or 1-16")
DEVICE_MEMORY_GB = _define("ALPHAFOLD_MSA_DEVICE_MEMORY_GB", None, "device memory to plan with, in GB")
# Weights.
PARAM_DIR = _define("PARAM_DIR", None, "the weights folder (default: /runpod-volume when mounted, else /data)")
PARAMS_URL = _define("PARAMS_URL", None, "a mirror of the official weights archive")
PARAMS_SHA256 = _define("PARAMS_SHA256", None, "the weights archive's expected SHA-256")
PARAMS_URL_MULTIMER_V2 = _define("PARAMS_URL_MULTIMER_V2", None,
                                 "a mirror of AlphaFold-Multimer v2's weights archive (2022-03-02)")
PARAMS_SHA256_MULTIMER_V2 = _define("PARAMS_SHA256_MULTIMER_V2", None, "that archive's expected SHA-256")
PARAMS_URL_MULTIMER_V1 = _define("PARAMS_URL_MULTIMER_V1", None,
                                 "a mirror of AlphaFold-Multimer v1's weights archive (2021-10-27)")
PARAMS_SHA256_MULTIMER_V1 = _define("PARAMS_SHA256_MULTIMER_V1", None, "that archive's expected SHA-256")
ALPHAFOLD_MODELS = _define("ALPHAFOLD_MODELS", None, "parameter sets to extract, comma-separated (default: all)")
WEIGHTS_DEADLINE = _define("ALPHAFOLD_MSA_WEIGHTS_DEADLINE_S", "14400", "seconds the weights download may take")
DOWNLOAD_RETRIES = _define("ALPHAFOLD_MSA_DOWNLOAD_RETRIES", "5", "attempts at resuming the weights download")
ASSUME_FREE_BYTES = _define("ALPHAFOLD_MSA_ASSUME_FREE_BYTES", None, "free disk space to assume (tests)")
# Inputs and results.
# What one job's input may cost (alphafold_msa/msa/limits.py): unset limits follow from the job memory.
JOB_MEMORY_GB = _define("ALPHAFOLD_MSA_JOB_MEMORY_GB", None,
                        "host memory one job's input may use, in GB (default: 1/8 of the machine's, 0.5 to 1.5)")
MAX_MSA_BYTES = _define("ALPHAFOLD_MSA_MAX_MSA_BYTES", None, "the largest alignment, decompressed")
MAX_ROWS = _define("ALPHAFOLD_MSA_MAX_ROWS", None, "the most sequences (rows) in one alignment")
MAX_RESIDUES = _define("ALPHAFOLD_MSA_MAX_RESIDUES", None,
                       "the most aligned characters (residues, gaps, insertions) of all rows together")
MAX_COLUMNS = _define("ALPHAFOLD_MSA_MAX_COLUMNS", "1000000", "the most aligned characters in one row")
MAX_LINES = _define("ALPHAFOLD_MSA_MAX_LINES", "20000000", "the most lines in one alignment file (its reading time)")
MAX_HEADER_CHARS = _define("ALPHAFOLD_MSA_MAX_HEADER_CHARS", "10000", "the longest row header (name and description)")
MAX_KEY_CHARS = _define("ALPHAFOLD_MSA_MAX_KEY_CHARS", "200", "the longest species key a row may carry for pairing")
URL_MAX_BYTES = _define("ALPHAFOLD_MSA_URL_MAX_BYTES", "1000000000", "the largest file a job's msa_url may name")
URL_ANY_KEY = _define("ALPHAFOLD_MSA_URL_ANY_KEY", "0", "1: msa_url may read any key of the worker's bucket",
                      ("0", "1"))
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
# Proxies: the usual variables, upper or lower case (as pip and requests read them).
HTTPS_PROXY = _define("HTTPS_PROXY", None, "the proxy for https requests (also https_proxy)")
HTTP_PROXY = _define("HTTP_PROXY", None, "the proxy for http requests (also http_proxy)")
NO_PROXY = _define("NO_PROXY", None, "hosts reached without a proxy, comma-separated (also no_proxy)")
# Settings any text is valid for: set by RunPod (its presence is what counts), or the launcher's key as given.
FREE_TEXT = (RUNPOD_HOSTED.name, RUNPOD_API_KEY.name)
# Upper bounds of numeric settings that have no bound of their own.
MAX_WHOLE = 10**15
MAX_NUMBER = 10**9
MAX_SECONDS = 7 * 24 * 3600
_WHOLE = re.compile(r"[0-9]{1,30}")  # ASCII digits only: '²'.isdigit() is True, but int('²') fails
_DECIMAL = re.compile(r"[0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30}")


def text(setting: Setting) -> str | None:
    """The setting's text as given (or its default), surrounding spaces removed."""
    value = setting.raw()
    return value.strip() if value is not None else None


def positive_int(setting: Setting, unit: str, minimum: int = 1, maximum: int = MAX_WHOLE) -> int:
    """The setting as a whole number of `unit` (ASCII digits) from `minimum` (1 or 0) to `maximum`; a
    ConfigError naming it otherwise."""
    value = text(setting) or ""
    number = int(value) if _WHOLE.fullmatch(value) else None
    if number is None or not minimum <= number <= maximum:
        kind = "positive" if minimum else "whole"
        raise ConfigError(f"{setting.name} must be a {kind} number of {unit}, got '{_shown(value)}' "
                          f"(at most {maximum:,})")
    return number


def positive_float(setting: Setting, unit: str, maximum: int = MAX_NUMBER) -> float:
    """The setting as a decimal number of `unit` (ASCII digits and one '.') above 0 and at most `maximum`;
    a ConfigError naming it otherwise."""
    value = text(setting) or ""
    number = float(value) if _DECIMAL.fullmatch(value) else 0.0
    if not 0 < number <= maximum:
        raise ConfigError(f"{setting.name} must be a positive number of {unit}, got '{_shown(value)}' "
                          f"(at most {maximum:,})")
    return number


def _shown(value: str) -> str:
    """A setting's value as an error message may show it: on one line, at most 100 characters."""
    return printable(value if len(value) <= 100 else value[:100] + "...")


def choice(value: str | None, setting: Setting, label: str, hint: str = "") -> str:
    """`value`, else the setting; a ConfigError ('`label` must be one of ...', then `hint`) unless it
    is one of the setting's choices."""
    value = value or text(setting)
    if value not in setting.choices:
        raise ConfigError(f"{label} must be one of {', '.join(setting.choices)}, got '{value}'{hint}")
    return value


@_reads(MAX_LENGTH)
def max_query_length() -> int:
    """The longest query accepted: $ALPHAFOLD_MSA_MAX_LENGTH, else 2,500 residues (at most 20,000)."""
    return positive_int(MAX_LENGTH, "residues", maximum=20_000)


@_reads(JOB_MEMORY_GB)
def job_memory_gb() -> float | None:
    """$ALPHAFOLD_MSA_JOB_MEMORY_GB (at most 10,000), or None when unset (alphafold_msa.msa.limits derives it)."""
    return positive_float(JOB_MEMORY_GB, "gigabytes", maximum=10_000) if text(JOB_MEMORY_GB) else None


# The alignment limits: (setting, unit, upper bound).
_ALIGNMENT_LIMITS = ((MAX_MSA_BYTES, "bytes", 10**12), (MAX_ROWS, "rows", 10**9), (MAX_RESIDUES, "residues", 10**12),
                     (MAX_COLUMNS, "columns", 10**9), (MAX_LINES, "lines", 10**12),
                     (MAX_HEADER_CHARS, "characters", 10**7), (MAX_KEY_CHARS, "characters", 10**6))


@_reads(*(setting for setting, _, _ in _ALIGNMENT_LIMITS))
def alignment_limits() -> dict[str, int | None]:
    """Each alignment limit's value by variable name; None where unset and without a default
    (alphafold_msa.msa.limits derives those from the job memory)."""
    return {setting.name: positive_int(setting, unit, maximum=maximum) if text(setting) else None
            for setting, unit, maximum in _ALIGNMENT_LIMITS}


@_reads(URL_MAX_BYTES)
def msa_url_max_bytes() -> int:
    """The largest alignment a job's msa_url may point to: $ALPHAFOLD_MSA_URL_MAX_BYTES, else 1 GB (at most 100 GB)."""
    return positive_int(URL_MAX_BYTES, "bytes", maximum=10**11)


@_reads(MAX_RESULT_BYTES)
def result_max_bytes() -> int:
    """The most bytes of a job's result files the launcher downloads, and then unpacks:
    $ALPHAFOLD_MSA_MAX_RESULT_BYTES, else 4 GB (at most 1 TB)."""
    return positive_int(MAX_RESULT_BYTES, "bytes", maximum=10**12)


@_reads(RELAX_TIMEOUT)
def relax_timeout() -> float:
    """Seconds one model's relaxation may take: $ALPHAFOLD_MSA_RELAX_TIMEOUT, else 600 (at most a day)."""
    return positive_float(RELAX_TIMEOUT, "seconds", maximum=24 * 3600)


@_reads(DOWNLOAD_DEADLINE)
def download_deadline() -> float:
    """The wall-clock seconds one download may take: $ALPHAFOLD_MSA_DOWNLOAD_DEADLINE_S, else 30 min
    (at most a week)."""
    return positive_float(DOWNLOAD_DEADLINE, "seconds", maximum=MAX_SECONDS)


@_reads(WEIGHTS_DEADLINE)
def weights_deadline() -> float:
    """The wall-clock seconds the weights download may take, retries included:
    $ALPHAFOLD_MSA_WEIGHTS_DEADLINE_S, else 4 hours (at most a week)."""
    return positive_float(WEIGHTS_DEADLINE, "seconds", maximum=MAX_SECONDS)


@_reads(DOWNLOAD_RETRIES)
def download_retries() -> int:
    """Attempts at resuming the weights download: $ALPHAFOLD_MSA_DOWNLOAD_RETRIES, else 5 (at most 100)."""
    return positive_int(DOWNLOAD_RETRIES, "attempts", minimum=0, maximum=100)


@_reads(DEVICE_MEMORY_GB)
def device_memory_gb() -> float | None:
    """$ALPHAFOLD_MSA_DEVICE_MEMORY_GB (at most 10,000; a worker also refuses more than its device has at
    start), or None when unset."""
    return positive_float(DEVICE_MEMORY_GB, "gigabytes", maximum=10_000) if text(DEVICE_MEMORY_GB) else None


MAX_SAMPLES_PER_CALL = 16


@_reads(SAMPLES_PER_CALL)
def samples_per_call() -> int | None:
    """$ALPHAFOLD_MSA_SAMPLES_PER_CALL as a number from 1 to MAX_SAMPLES_PER_CALL, or None for `auto` (the
    runner chooses by device, length and memory)."""
    if (text(SAMPLES_PER_CALL) or "auto") == "auto":
        return None
    value = text(SAMPLES_PER_CALL) or ""
    if not _WHOLE.fullmatch(value) or not 1 <= int(value) <= MAX_SAMPLES_PER_CALL:
        raise ConfigError(f"{SAMPLES_PER_CALL.name} must be auto or a whole number from 1 to "
                          f"{MAX_SAMPLES_PER_CALL}, got '{_shown(value)}'")
    return int(value)


@_reads(ASSUME_FREE_BYTES)
def assumed_free_bytes() -> int | None:
    """$ALPHAFOLD_MSA_ASSUME_FREE_BYTES (free disk space to plan with), or None when unset."""
    return positive_int(ASSUME_FREE_BYTES, "bytes", minimum=0) if text(ASSUME_FREE_BYTES) else None


def url_any_key() -> bool:
    """Whether a job's msa_url may read any key of the worker's bucket ($ALPHAFOLD_MSA_URL_ANY_KEY=1)."""
    return choice(None, URL_ANY_KEY, URL_ANY_KEY.name) == "1"


@_reads(WORKDIR)
def workdir() -> Path | None:
    """$WORKDIR, or None when unset (the worker checks at start that it can write there)."""
    value = text(WORKDIR)
    return Path(value) if value else None


@_reads(PARAM_DIR)
def param_dir() -> Path | None:
    """$PARAM_DIR, or None when unset."""
    value = text(PARAM_DIR)
    return Path(value) if value else None


@_reads(ALPHAFOLD_MODELS)
def model_names() -> list[str]:
    """$ALPHAFOLD_MODELS as a list of official parameter set names (model_1 ... model_5, each also with
    _ptm, _multimer_v3, _multimer_v2 or _multimer for v1); empty: all of the 2022-12-06 archive."""
    names = [name.strip() for name in (text(ALPHAFOLD_MODELS) or "").split(",") if name.strip()]
    for name in names:
        if not re.fullmatch(r"model_[1-5](_ptm|_multimer(_v2|_v3)?)?", name):
            raise ConfigError(f"{ALPHAFOLD_MODELS.name} must list parameter sets such as model_1_ptm or "
                              f"model_2_multimer_v3, comma-separated, got '{_shown(name)}'")
    return names


def params_url(setting: Setting = PARAMS_URL) -> str | None:
    """$PARAMS_URL (or another archive's URL `setting`: an http or https URL with a host), or None when unset."""
    value = text(setting)
    return _url(setting, value) if value else None


def params_sha256(setting: Setting = PARAMS_SHA256) -> str | None:
    """$PARAMS_SHA256 (or another archive's `setting`) in lower case (64 hexadecimal digits), or None when unset."""
    value = text(setting)
    if value and not re.fullmatch(r"[0-9A-Fa-f]{64}", value):
        raise ConfigError(f"{setting.name} must be 64 hexadecimal digits, got '{_shown(value)}'")
    return value.lower() if value else None


@_reads(PARAMS_URL, PARAMS_SHA256, PARAMS_URL_MULTIMER_V2, PARAMS_SHA256_MULTIMER_V2, PARAMS_URL_MULTIMER_V1,
        PARAMS_SHA256_MULTIMER_V1)
def weights_sources() -> None:
    """Check every weights archive's URL and SHA-256 setting (ConfigError naming the first malformed one)."""
    for url, digest in ((PARAMS_URL, PARAMS_SHA256), (PARAMS_URL_MULTIMER_V2, PARAMS_SHA256_MULTIMER_V2),
                        (PARAMS_URL_MULTIMER_V1, PARAMS_SHA256_MULTIMER_V1)):
        params_url(url)
        params_sha256(digest)


@_reads(BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY, BUCKET_NAME)
def bucket() -> tuple[str, str, str, str | None] | None:
    """(endpoint URL, access key id, secret key, bucket name or None for the default) when the endpoint and
    both keys are set; None when none of them is; a ConfigError, never showing a key or the URL, when only
    some are or one is malformed."""
    name = text(BUCKET_NAME)
    if name and not re.fullmatch(r"[A-Za-z0-9._-]{1,255}", name):
        raise ConfigError(f"{BUCKET_NAME.name} must be 1 to 255 letters, digits, '.', '_' or '-', got '{_shown(name)}'")
    required = (BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY)
    values = [text(setting) for setting in required]
    if not any(values):
        return None
    endpoint, key_id, secret = values
    if not (endpoint and key_id and secret):
        given = " and ".join(setting.name for setting, value in zip(required, values) if value)
        missing = " and ".join(setting.name for setting, value in zip(required, values) if not value)
        raise ConfigError(f"{given} set without {missing}: a bucket needs all three")
    if "@" in urlsplit(_url(BUCKET_ENDPOINT_URL, endpoint)).netloc:
        raise ConfigError(f"{BUCKET_ENDPOINT_URL.name} must not carry a user name or password: the bucket's keys "
                          f"go in {BUCKET_ACCESS_KEY_ID.name} and {BUCKET_SECRET_ACCESS_KEY.name}")
    for setting, key in zip(required[1:], (key_id, secret)):
        if not re.fullmatch(r"[!-~]+", key):
            raise ConfigError(f"{setting.name} must be printable ASCII without spaces (its value is not shown)")
    return endpoint, key_id, secret, name


def _url(setting: Setting, value: str) -> str:
    """`value` when it is an http or https URL with a host and a valid port; a ConfigError naming `setting`
    otherwise (without the value: it may carry credentials)."""
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a port that is not a number from 0 to 65535
        valid = False
    if not valid or not value.isprintable() or any(c.isspace() for c in value):
        raise ConfigError(f"{setting.name} must be an http or https URL with a host name (its value is not shown: "
                          f"it may carry credentials)")
    return value


@_reads(HTTPS_PROXY, HTTP_PROXY, NO_PROXY)
def proxies() -> dict[str, str]:
    """The proxy URL for each scheme ('http', 'https') the environment names; a ConfigError, without the
    value (it may carry a password), for one that is not an http or https URL with a host, or for a
    NO_PROXY entry that is not a host name, domain or address."""
    import urllib.request

    named = urllib.request.getproxies_environment()
    found = {scheme: named[scheme] for scheme in ("http", "https") if named.get(scheme)}
    for scheme, url in found.items():
        _url(HTTPS_PROXY if scheme == "https" else HTTP_PROXY, url)
    hosts = [host.strip() for host in named.get("no", "").split(",") if host.strip()]
    for host in hosts:
        if not re.fullmatch(r"[A-Za-z0-9._*:/\[\]-]+", host):
            raise ConfigError(f"{NO_PROXY.name} must list host names, domains or addresses, comma-separated, "
                              f"got '{_shown(host)}'")
    return found


def proxy_for(url: str) -> str | None:
    """The proxy to reach `url` through: the one named for its scheme, unless NO_PROXY names its host or the
    host is this machine's loopback (no proxy can reach it); None for a direct connection."""
    import urllib.request

    host = urlsplit(url).hostname or ""
    # proxy_bypass_environment is undocumented, and typeshed leaves it out
    if (host in ("127.0.0.1", "::1", "localhost")
            or urllib.request.proxy_bypass_environment(host)):  # type: ignore[attr-defined]
        return None
    return proxies().get(urlsplit(url).scheme)
