"""One prediction's samples run as parts (jobs of the same fields, each a sample_slice) merged into the files one
job would have written.

A part writes, besides a prediction's files, PART_JSON (its slice; each kept sample's exact ranking confidence,
pTM and number; the samples its ensemble left out; the plots' chain boundaries and template ranges) and
PART_ENSEMBLE (the Cα atoms, pLDDT and confidence of the samples its ensemble compared). `merge_parts` reads the
parts in sample order and writes: samples.tsv and samples.json over every sample; the `keep_top` most confident
kept samples of all parts ranked as one job ranks them (ties to the lower sample number), their files renamed to
their new ranks, relaxed as one job relaxes (the top one for relax=best: the part that ran it relaxed it as its
own top); ranking.json; the ensemble of every part's compared samples; plddt.png and pae.png; summary.json and
summary.txt; timings.json (the parts' stages summed, with the fan-out's own numbers); log.txt (each part's, in
order); and the files every part holds alike (config.json without the slice, msa.a3m, cite.bibtex, coverage.png,
AF-Cluster's files) from the first. Structure texts and scores files are the parts' own bytes: the merged result
holds exactly the coordinates and scores one job would have.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alphafold_msa.files import write_atomic
from alphafold_msa.model import config as configs
from alphafold_msa.protocol.output import DEMO_WEIGHTS_PLOT_NOTE
from alphafold_msa.results.ensemble import Sample, compare_limit, write_ensemble
from alphafold_msa.results.html_report import write_report
from alphafold_msa.results.job_record import write_config
from alphafold_msa.results.report import draw_model_plots, model_label, write_summary
from alphafold_msa.results.report import summary as report_summary
from alphafold_msa.results.samples import SAMPLES_JSON, SAMPLES_TSV
from alphafold_msa.results.structures import ModelPrediction, relaxed_formats, write_rank, write_ranking
from alphafold_msa.results.types import RankedModel

PART_JSON, PART_ENSEMBLE = "part.json", "part_ensemble.npz"
# Files every part writes alike, taken from the first (AF-Cluster's msa_cluster_*.a3m too).
SHARED_FILES = ("msa.a3m", "cite.bibtex", "coverage.png", "msa_clusters.json")
# summary.json's keys that report.summary and the prediction add to the alignment's summary.
_REPORT_KEYS = {"best_model", "mean_plddt", "ptm", "iptm", "models", "total_s", "kernels", "relax", "demo_weights",
                "ensemble", "fan_out"}


def write_part(folder: Path, sample_slice: Sequence[int], kept: Sequence[ModelPrediction], numbers: dict[str, int],
               compared: Sequence[Sample], left_out: Sequence[str], boundaries: Sequence[int],
               covered: Sequence[tuple[int, int]], sampling: bool) -> None:
    """PART_JSON and PART_ENSEMBLE of a part (see the module's docstring); `kept` in rank order, `numbers` each
    kept sample's number by name; `sampling`: whether the job is a sampling run (its ensemble is written)."""
    from alphafold_msa.results.samples import sample_name

    record = {"sample_slice": list(sample_slice), "sampling": sampling, "boundaries": list(boundaries),
              "covered": [list(pair) for pair in covered], "left_out": list(left_out),
              "kept": [{"sample": sample_name(p), "rank": rank, "number": numbers[sample_name(p)],
                        "ranking_confidence": p.ranking_confidence, "ptm": p.ptm} for rank, p in enumerate(kept)]}
    write_atomic(folder / PART_JSON, json.dumps(record, indent=1))
    length = len(compared[0].ca) if compared else 0
    with open(folder / PART_ENSEMBLE, "wb") as handle:
        np.savez(handle, ids=np.array([s.id for s in compared], dtype=str),
                 ca=np.array([s.ca for s in compared], dtype=np.float32).reshape(len(compared), length, 3),
                 plddt=np.array([s.plddt for s in compared], dtype=np.float32).reshape(len(compared), length),
                 confidence=np.array([s.confidence for s in compared], dtype=np.float64))


def part_complete(folder: Path) -> bool:
    """Whether a part's folder holds what merging reads (a job whose files did not all come back does not)."""
    return all((folder / name).is_file() for name in (PART_JSON, PART_ENSEMBLE, SAMPLES_JSON, SAMPLES_TSV,
                                                     "config.json", "summary.json", "ranking.json", "timings.json"))


def stopped_at(folder: Path) -> int | None:
    """The number of the sample at which a part stopped (its stop_at_score reached), else None."""
    return _stop(_json(folder / PART_JSON), _json(folder / SAMPLES_JSON))


def _stop(record: dict[str, Any], samples: dict[str, Any]) -> int | None:
    """stopped_at, from a part's part.json and samples.json."""
    return record["sample_slice"][0] + len(samples["samples"]) - 1 if samples.get("stopped_early") else None


def merge_parts(parts: Sequence[Path], destination: Path, fan_out: dict[str, Any]) -> None:
    """Write into `destination` (an existing, empty folder) the files one job would have written for the samples
    of `parts` (their folders, in sample order; each `part_complete`); `fan_out` (samples, sub-jobs, wall and
    worker seconds) goes into summary.json and timings.json. When a part stopped at its stop_at_score, the
    samples after that one are left out, as one job would not have run them."""
    config = _json(parts[0] / "config.json")
    records = [_json(part / PART_JSON) for part in parts]
    samples = [_json(part / SAMPLES_JSON) for part in parts]
    stops = [number for number in map(_stop, records, samples) if number is not None]
    last = min(stops) if stops else None
    if last is not None:
        keep = [record["sample_slice"][0] <= last for record in records]
        parts = [part for part, k in zip(parts, keep) if k]
        records, samples = [r for r, k in zip(records, keep) if k], [s for s, k in zip(samples, keep) if k]
    # Each part's samples (up to `last`) with their numbers in the job.
    rows = [part_samples["samples"][:len(_numbers(record, part_samples, last))]
            for record, part_samples in zip(records, samples)]
    numbers = {row["sample"]: number for record, part_samples, part_rows in zip(records, samples, rows)
               for row, number in zip(part_rows, _numbers(record, part_samples, last))}
    _copy_shared(parts[0], destination, config)
    _merge_samples(parts, rows, destination)
    chosen = _choose_kept(records, config["keep_top"], last)
    ranked = _write_ranked(parts, chosen, destination, config)
    names = [model.sample for model in ranked]
    stopped = None
    if last is not None:
        reason = next(r for r in (part_samples.get("stopped_early") for part_samples in samples) if r)
        stopped = f"stopped after {last + 1} of {fan_out['samples']} samples: {reason.split(': ', 1)[1]}"
    write_atomic(destination / SAMPLES_JSON, json.dumps({"columns": samples[0]["columns"],
                                                         "samples": [row for part in rows for row in part],
                                                         "kept": sorted(names), "stopped_early": stopped}, indent=1))
    _copy_saved_samples(parts, rows, destination)
    states = _merge_ensemble(parts, records, numbers, destination, set(names), config)
    demo = bool(config.get("demo_weights"))
    caveat = DEMO_WEIGHTS_PLOT_NOTE if demo else None
    _plot(ranked, destination, records[0], caveat)
    timings = _merge_timings(parts, fan_out)
    write_atomic(destination / "timings.json", json.dumps(timings, indent=2))
    alignment = {k: v for k, v in _json(parts[0] / "summary.json").items() if k not in _REPORT_KEYS}
    summary = report_summary(ranked, alignment, timings, ranked[0].scores.get("relax"), demo)
    if states is not None:
        summary["ensemble"] = states
    summary["fan_out"] = fan_out
    write_summary(destination, summary)
    log = "".join(f"# part {index} (samples {record['sample_slice'][0]}-{record['sample_slice'][1] - 1})\n"
                  + (part / "log.txt").read_text() for index, (part, record) in enumerate(zip(parts, records)))
    write_atomic(destination / "log.txt", log)
    if config.get("report", True):
        write_report(destination)


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _copy_shared(first: Path, destination: Path, config: dict[str, Any]) -> None:
    """The files every part writes alike; config.json without the slice."""
    for path in [*(first / name for name in SHARED_FILES), *sorted(first.glob("msa_cluster_*.a3m"))]:
        if path.is_file():
            shutil.copyfile(path, destination / path.name)
    write_config(destination, {**config, "sample_slice": None})


def _numbers(record: dict[str, Any], samples: dict[str, Any], last: int | None) -> range:
    """A part's sample numbers in the job (its slice's first on), up to `last` when given."""
    first = record["sample_slice"][0]
    stop = first + len(samples["samples"])
    return range(first, stop if last is None else min(stop, last + 1))


def _merge_samples(parts: Sequence[Path], rows: Sequence[list[dict[str, Any]]], destination: Path) -> None:
    """samples.tsv: each part's lines of its `rows`, in order."""
    tables = [(part / SAMPLES_TSV).read_text().splitlines() for part in parts]
    lines = [table[1:len(part_rows) + 1] for table, part_rows in zip(tables, rows)]
    write_atomic(destination / SAMPLES_TSV, "\n".join([tables[0][0], *(line for part in lines for line in part)])
                 + "\n")


def _copy_saved_samples(parts: Sequence[Path], rows: Sequence[list[dict[str, Any]]], destination: Path) -> None:
    """With save_all: the structure files (sample_<name>.<format>) of each part's `rows`."""
    for part, part_rows in zip(parts, rows):
        for row in part_rows:
            for path in sorted(part.glob(f"sample_{row['sample']}.*")):
                shutil.copyfile(path, destination / path.name)


def _choose_kept(records: Sequence[dict[str, Any]], keep_top: int,
                 last: int | None) -> list[tuple[int, dict[str, Any]]]:
    """(part, kept entry) of the `keep_top` most confident kept samples of all parts (up to sample `last`), ranked
    as one job ranks them: ranking confidence, then pTM, ties to the lower sample number."""
    candidates = [(index, entry) for index, record in enumerate(records) for entry in record["kept"]
                  if last is None or entry["number"] <= last]
    candidates.sort(key=lambda item: (-item[1]["ranking_confidence"], -(item[1]["ptm"] or 0.0), item[1]["number"]))
    return candidates[:keep_top]


def _write_ranked(parts: Sequence[Path], chosen: Sequence[tuple[int, dict[str, Any]]], destination: Path,
                  config: dict[str, Any]) -> list[RankedModel]:
    """Each chosen sample's files at its new rank, written as one job writes them (structures.write_rank), relaxed
    only where one job relaxes (configs.relaxed_ranks); ranking.json with each model's exact pTM (and ipTM) from
    its part's ranking."""
    relaxed_ranks = configs.relaxed_ranks(config["relax"], len(chosen))
    models, exact = [], []
    rankings = [_json(part / "ranking.json") for part in parts]
    for rank, (index, entry) in enumerate(chosen):
        part, old = parts[index], entry["rank"]
        scores = _json(part / f"scores_rank_{old}.json")
        relaxed_texts = {}
        if rank not in relaxed_ranks:
            scores.pop("relax", None)
        elif (part / f"relaxed_rank_{old}.pdb").is_file():
            relaxed_texts = {fmt: (part / f"relaxed_rank_{old}.{fmt}").read_text()
                             for fmt in relaxed_formats(config["formats"])}
        structures = {fmt: (part / f"ranked_{old}.{fmt}").read_text() for fmt in config["formats"]}
        models.append(write_rank(destination, rank, structures, scores, relaxed_texts))
        key = models[-1].key
        exact.append((key, rankings[index].get("ptm", {}).get(key), rankings[index].get("iptm", {}).get(key)))
    write_ranking(destination, exact, models, "iptm" in rankings[0])
    return models


def _merge_ensemble(parts: Sequence[Path], records: Sequence[dict[str, Any]], numbers: dict[str, int],
                    destination: Path, kept: set[str], config: dict[str, Any]) -> str | None:
    """The structural states of every part's compared samples among those merged (`numbers`: each one's number in
    the job), as many as one job compares, written as one job writes them; the summary line, None when there are
    fewer than two samples."""
    samples = []
    for part in parts:
        with np.load(part / PART_ENSEMBLE, allow_pickle=False) as arrays:
            for index, sample_id in enumerate(arrays["ids"]):
                if str(sample_id) in numbers:
                    samples.append(Sample(str(sample_id), arrays["ca"][index], arrays["plddt"][index],
                                          float(arrays["confidence"][index])))
    samples.sort(key=lambda s: (-s.confidence, numbers[s.id]))
    if len(samples) < 2 or not records[0]["sampling"]:
        return None
    limit = compare_limit(len(samples[0].ca))
    left_out = sorted([*(s.id for s in samples[limit:]),
                       *(name for r in records for name in r["left_out"] if name in numbers)])
    ensemble = write_ensemble(samples[:limit], destination, confidence_label="ranking confidence (0-100)",
                              caveat=DEMO_WEIGHTS_PLOT_NOTE if config.get("demo_weights") else None,
                              left_out=left_out)
    return ensemble.summary() + ensemble.unsaved_note(kept, bool(config.get("save_all")))


def _plot(ranked: Sequence[RankedModel], destination: Path, record: dict[str, Any], caveat: str | None) -> None:
    """plddt.png and pae.png of the ranked models, as one job draws them (from their scores files)."""
    draw_model_plots(destination, [model_label(m.rank, m.model_name, m.seed, m.msa_cluster) for m in ranked],
                     [np.asarray(m.scores["plddt"], float) for m in ranked],
                     [np.asarray(m.scores["pae"], float) if "pae" in m.scores else None for m in ranked],
                     record["boundaries"], caveat, [tuple(pair) for pair in record["covered"]])


def _merge_timings(parts: Sequence[Path], fan_out: dict[str, Any]) -> dict[str, Any]:
    """The parts' stages summed (the models' seconds by sample), the first part's kernels, and the fan-out."""
    timings = [_json(part / "timings.json") for part in parts]
    merged: dict[str, Any] = {key: timings[0][key] for key in ("kernels", "compile_mode", "build_features_s")
                              if key in timings[0]}
    for key in ("process_features_s", "features_wait_s", "relax_s", "write_s"):
        merged[key] = round(sum(t.get(key, 0.0) for t in timings), 3)
    merged["models"] = {name: seconds for t in timings for name, seconds in t["models"].items()}
    merged["total_s"] = fan_out.get("wall_s", round(sum(t["total_s"] for t in timings), 3))
    merged["fan_out"] = fan_out
    return merged
