"""What the command line asked for, as one typed object (`LaunchOptions`), checked before any work starts.

Flags and job fields share their names (--num-recycle is `num_recycle`, --random-seed is
`random_seed`), so the job schema's messages can name the flag the user typed.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any, Sequence

from alphafold_msa.errors import UserError
from alphafold_msa.launcher.output_paths import structure_formats
from alphafold_msa.protocol.schema import JobInputError
from alphafold_msa.protocol.spec import JobSpec, TemplateSpec

# --screen's kinds, and what a screen may be ranked by (--rank-by: the top model's scores, higher is better).
SCREEN_MODES = ("pulldown", "all-vs-all", "pairs")
RANK_BY = ("ipsae", "iptm", "pdockq2", "pdockq", "ranking_confidence", "mean_plddt")
# Job fields whose flag is not the field's name with '-' for '_'.
FLAG_OF_FIELD = {"formats": "--format", "format": "--format", "dropout": "--use-dropout"}


@dataclasses.dataclass(frozen=True)
class LaunchOptions:
    """One launch.py command: the alignments, what to predict, where to write, and how to run."""

    msa: list[str]
    template: list[str]
    paired: list[str]
    complex: bool
    copies: list[int] | None
    complex_mode: str
    multimer_version: int | None
    pairing: str | None
    pair_keys: str | None
    output: str | None
    output_dir: str | None
    msa_format: str | None
    structure_formats: list[str] | None
    query: str | None
    models: list[int]
    num_recycle: int
    recycle_early_stop_tolerance: float | None
    random_seed: int
    num_seeds: int
    max_msa_depth: int
    max_msa: list[int] | None
    dropout: bool
    msa_mask_fraction: float | None
    msa_clusters: bool
    keep_top: int | None
    save_all: bool
    no_report: bool
    stop_at_score: float | None
    relax: str | None
    check: bool
    endpoint_id: str | None
    api_key: str | None
    api_url: str
    timeout: float
    poll_interval: float
    resume: str | None
    concurrency: int
    max_retries: int
    local: bool
    param_dir: str | None
    model_config: str | None
    model_preset: str
    demo_weights: bool
    kernels: str | None
    fan_out: int | str | None = None  # --fan-out: a number of jobs, or "auto"
    samples_per_job: int | None = None
    screen: str | None = None  # --screen: one of SCREEN_MODES (launcher/screen.py)
    bait: str | None = None
    pairs: str | None = None
    include_homomers: bool = False
    rank_by: str = RANK_BY[0]
    max_complexes: int = 10_000
    adopt_output: bool = False  # --output was implied inside --output-dir: its files count among the job's

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> LaunchOptions:
        """The parsed command line as options; UserError for values argparse cannot check alone."""
        values: dict[str, Any] = {field.name: getattr(args, field.name, None) for field in dataclasses.fields(cls)
                                  if field.name != "adopt_output"}
        values["msa_format"], formats = args.format
        values["structure_formats"] = structure_formats(args.output, formats)
        values.update(msa=args.msa or [], template=args.template or [], paired=args.paired or [],
                      endpoint_id=args.endpointId, models=parse_models(args.models), copies=parse_copies(args.copies),
                      max_msa=parse_max_msa(args.max_msa), fan_out=parse_fan_out(getattr(args, "fan_out", None)))
        return cls(**values)

    @property
    def inputs(self) -> list[str]:
        """The files the command reads: alignments, paired alignments, templates, pairing keys."""
        from alphafold_msa.structures.match import parse_template_argument

        templates = [parse_template_argument(argument)[0] for argument in self.template]
        return [*self.msa, *self.paired, *templates, *([self.pair_keys] if self.pair_keys else [])]

    @property
    def is_complex(self) -> bool:
        """One complex of the --msa files: asked for with --complex, or implied by --copies / --paired."""
        return self.complex or self.copies is not None or bool(self.paired)

    def job_fields(self) -> dict[str, Any]:
        """The job fields this command sets (the schema's defaults apply to the rest)."""
        given = {"models": self.models, "num_recycle": self.num_recycle, "random_seed": self.random_seed,
                 "num_seeds": self.num_seeds, "max_msa_depth": self.max_msa_depth, "max_msa": self.max_msa,
                 "relax": self.relax, "dropout": self.dropout or None, "msa_mask_fraction": self.msa_mask_fraction,
                 "msa_clusters": self.msa_clusters or None, "multimer_version": self.multimer_version,
                 "keep_top": self.keep_top, "save_all": self.save_all or None, "stop_at_score": self.stop_at_score,
                 "report": False if self.no_report else None,
                 "formats": self.structure_formats, "recycle_early_stop_tolerance": self.recycle_early_stop_tolerance,
                 "format": self.msa_format, "query": self.query, "complex_mode": self.complex_mode,
                 "pairing": self.pairing}
        return {"files": True, **{name: value for name, value in given.items() if value is not None}}

    def job_spec(self, templates: Sequence[TemplateSpec] = ()) -> JobSpec:
        """The command's job, checked against the job schema; UserError naming the flag at fault."""
        try:
            return JobSpec.from_fields({**self.job_fields(), **({"templates": [t.to_field() for t in templates]}
                                                                if templates else {})})
        except JobInputError as error:
            raise UserError(flag_message(str(error))) from None


def parse_models(text: str) -> list[int]:
    """--models '1,2,3' as numbers (their range is the job schema's to check)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--models: expected comma-separated numbers from 1-5, got '{text}'") from None


def parse_max_msa(text: str | None) -> list[int] | None:
    """--max-msa 'CLUSTERS:EXTRA' as two numbers (their range is the job schema's to check)."""
    if text is None:
        return None
    clusters, colon, extra = text.partition(":")
    if not colon or not clusters.strip().isdigit() or not extra.strip().isdigit():
        raise UserError(f"--max-msa: expected CLUSTERS:EXTRA such as 16:32, got '{text}'")
    return [int(clusters), int(extra)]


def parse_fan_out(text: str | None) -> int | str | None:
    """--fan-out 'N' (a number of jobs, at least 1) or 'auto'."""
    if text is None or text == "auto":
        return text
    if not text.strip().isdigit() or int(text) < 1:
        raise UserError(f"--fan-out: expected a number of jobs (1 or more) or auto, got '{text}'")
    return int(text)


def parse_copies(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--copies: expected comma-separated copy numbers such as 2,1, got '{text}'") from None


def flag_message(message: str) -> str:
    """A job schema message about `input.<field>` reworded to name the flag: 'input.models.0: 7 is
    greater than the maximum of 5' -> '--models: 7 is greater than the maximum of 5'."""
    match = re.match(r"input\.([a-z_]+)(\.\d+)*: ", message)
    if not match:
        return message
    field = match.group(1)
    flag = FLAG_OF_FIELD.get(field, "--" + field.replace("_", "-"))
    return f"{flag}: {message[match.end():]}"
