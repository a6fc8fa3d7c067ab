"""A prediction's report: plots (PNG) and a short summary (summary.json, summary.txt) in its output folder."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from alphafold_msa.files import write_atomic
from alphafold_msa.msa import ComplexMsa, Msa
from alphafold_msa.protocol.output import DEMO_WEIGHTS_NOTE, DEMO_WEIGHTS_PLOT_NOTE
from alphafold_msa.results.plots import plot_coverage, plot_pae, plot_plddt
from alphafold_msa.results.structures import ModelPrediction
from alphafold_msa.results.types import RankedModel

PLOT_FILES = {"plddt": "plddt.png", "pae": "pae.png", "coverage": "coverage.png"}


def chain_boundaries(msa: Msa | ComplexMsa) -> list[int]:
    """Residue offsets where a new chain starts (empty for one chain), copies included."""
    if isinstance(msa, Msa):
        return []
    return [int(offset) for offset in np.cumsum(msa.chain_lengths)[:-1]]


class PlotDrawer:
    """Draws a job's plots in a background thread, so they overlap the network instead of following it:
    coverage.png as soon as the alignment is known, plddt.png and pae.png once the models are ranked."""

    def __init__(self, output_dir: Path, boundaries: Sequence[int], demo_weights: bool = False):
        self.output_dir = output_dir
        self.boundaries = list(boundaries)
        self.caveat = DEMO_WEIGHTS_PLOT_NOTE if demo_weights else None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plots")
        self._pending: dict[str, Future] = {}

    def __enter__(self) -> PlotDrawer:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def coverage(self, alignment: Msa, depth: int | None = None, paired_rows: int = 0) -> None:
        """coverage.png of the (filtered) alignment; `depth` is the row count its title gives;
        `paired_rows` below the query, a complex's paired block, are marked."""
        path = self.output_dir / PLOT_FILES["coverage"]
        self._pending["coverage"] = self._pool.submit(plot_coverage, alignment, path, self.boundaries, self.caveat,
                                                      depth, paired_rows)

    def models(self, ranked: list[ModelPrediction], covered: Sequence[tuple[int, int]] = ()) -> None:
        """plddt.png (every model, the residues templates cover shaded) and pae.png (a panel for each
        model with PAE, top model first; none without), drawn from the values the scores files hold (two
        decimals): a fanned-out prediction's merge draws the same plots."""
        self._pending.update(draw_model_plots(
            self.output_dir, [model_label(i, p.model_name, p.seed, p.msa_cluster) for i, p in enumerate(ranked)],
            [np.round(p.plddt.astype(float), 2) for p in ranked],
            [None if p.pae is None else np.round(p.pae.astype(float), 2) for p in ranked],
            self.boundaries, self.caveat, covered, run=self._pool.submit))

    def result(self) -> dict[str, Path]:
        """Every plot's path, once drawn (a drawing error is raised here)."""
        return {name: self._pending[name].result() for name in ("plddt", "pae", "coverage") if name in self._pending}


def model_label(rank: int, model_name: str, seed: int, msa_cluster: str | None) -> str:
    """A model's title in the plots: 'rank 0: model_1_ptm seed 3' (and its AF-Cluster alignment)."""
    return f"rank {rank}: {model_name} seed {seed}{'' if msa_cluster is None else f' msa {msa_cluster}'}"


def draw_model_plots(folder: Path, labels: Sequence[str], plddts: Sequence[np.ndarray],
                     paes: Sequence[np.ndarray | None], boundaries: Sequence[int], caveat: str | None,
                     covered: Sequence[tuple[int, int]] = (), run: Callable[..., Any] = lambda f, *a: f(*a)
                     ) -> dict[str, Any]:
    """plddt.png and pae.png (the models with PAE) in `folder`, each drawn through `run` (called at once by
    default; a pool's submit draws in the background); what `run` returned, by plot."""
    drawn = {"plddt": run(plot_plddt, labels, plddts, folder / PLOT_FILES["plddt"], boundaries, caveat, covered)}
    with_pae = [(label, pae) for label, pae in zip(labels, paes) if pae is not None]
    if with_pae:
        drawn["pae"] = run(plot_pae, [label for label, _ in with_pae], [pae for _, pae in with_pae],
                           folder / PLOT_FILES["pae"], boundaries, caveat)
    return drawn


def summary(models: list[RankedModel], msa_summary: dict[str, Any], timings: dict[str, Any],
            relax: dict[str, Any] | None, demo_weights: bool = False) -> dict[str, Any]:
    """What a reader wants first: the query, the alignment (the MSA summary: format, depths, chains,
    coverage per position), each model's confidence, the top one, time."""
    best = models[0]
    out: dict[str, Any] = {
        **{k: v for k, v in msa_summary.items() if k != "source"},  # source: a path on the predicting machine
        "best_model": best.key,
        "mean_plddt": best.mean_plddt,
        "ptm": best.ptm,
        "iptm": best.iptm,
        "models": [{"rank": m.rank, "model": m.model_name, "seed": m.seed,
                    **({"msa_cluster": m.msa_cluster} if m.msa_cluster is not None else {}), "recycles": m.recycles,
                    "mean_plddt": m.mean_plddt, "ptm": m.ptm, "iptm": m.iptm} for m in models],
        "total_s": timings["total_s"],
        "kernels": timings["kernels"],
    }
    if "interface" in best.scores:  # a complex's interface scores (results/interface.py), the top model's
        out["interface"] = best.scores["interface"]
    if relax is not None:
        out["relax"] = relax
    if demo_weights:
        out["demo_weights"] = True
    return out


def summary_text(data: dict[str, Any]) -> str:
    """summary.txt: a few lines a person reads."""
    lines = [f"WARNING: {DEMO_WEIGHTS_NOTE}"] if data.get("demo_weights") else []
    lines += [f"query: {data['query_name']} ({data['query_length']} residues)",
             f"alignment: {data['num_sequences']} sequences, {data['num_sequences_filtered']} after filtering"]
    if data.get("depth_note"):
        lines.append(f"note: {data['depth_note']}")
    pairing = data.get("pairing")
    keyed = pairing["chains"] if pairing else [None] * len(data.get("chains", []))
    for chain, keys in zip(data.get("chains", []), keyed):
        with_keys = "" if keys is None else species_keys_text(keys, chain["num_sequences"])
        lines.append(f"  chain {','.join(chain['chain_ids'])}: {chain['query_name']} ({chain['query_length']} "
                     f"residues, {chain['num_sequences']} sequences{with_keys})")
    if pairing:
        shown = "" if pairing["note"] == data.get("note") else f"; {pairing['note']}"
        lines.append(f"pairing: {pairing['method']}{shown}")
    if data.get("note"):
        lines.append(f"note: {data['note']}")
    lines += template_lines(data)
    lines.append("models (best first):")
    for m in data["models"]:
        scores = [f"mean pLDDT {m['mean_plddt']:.2f}"]
        scores += [f"{name} {m[key]:.3f}" for key, name in (("ptm", "pTM"), ("iptm", "ipTM")) if m[key] is not None]
        alignment = f" alignment {m['msa_cluster']}" if m.get("msa_cluster") is not None else ""
        lines.append(f"  {m['rank']}. {m['model']} seed {m['seed']}{alignment}: {', '.join(scores)}, "
                     f"{m['recycles']} recycles")
    interface = data.get("interface")
    if interface:
        lines.append(f"interface of the top model: ipSAE {interface['ipsae']:.3f}, pDockQ {interface['pdockq']:.3f}, "
                     f"pDockQ2 {interface['pdockq2']:.3f}, {interface['contacts']} residue contacts (C-beta within "
                     f"{interface['contact_distance']:g} A)")
    relax = data.get("relax")
    if relax:
        lines.append(f"relaxed: no ({relax['error']})" if "error" in relax
                     else f"relaxed: yes, on {relax['platform']} in {relax['seconds']:.1f} s")
    lines.append(f"time: {data['total_s']:.1f} s ({data['kernels']} kernels)")
    return "\n".join(lines) + "\n"


def species_keys_text(keys: dict[str, Any], num_sequences: int) -> str:
    """'; of the 37 rows read besides the query, 37 with a species key (mnemonic), 27 moved to the paired
    rows': a chain's keys are counted over its rows as read, some of which pairing may then have moved out
    of its own `num_sequences` (the query included)."""
    kinds = f" ({', '.join(keys['key_kinds'])})" if keys["key_kinds"] else ""
    moved = keys["rows"] - (num_sequences - 1)
    paired = f", {moved} moved to the paired rows" if moved > 0 else ""
    return (f"; of the {keys['rows']} rows read besides the query, {keys['rows_with_key']} with a species key"
            f"{kinds}{paired}")


def template_lines(data: dict[str, Any]) -> list[str]:
    """The templates, the query residues each covers, and which models read them (none: no lines)."""
    if not data.get("templates"):
        return []
    used = ", ".join(data["template_models"]) or "none of the models run"
    lines = [f"templates (used by {used}):"]
    for entry in data["templates"]:
        target = f"chain {entry['query_chain']} " if "query_chain" in entry else ""
        start, end = entry["query_range"]
        lines.append(f"  {entry['file']} chain {entry['chain']} -> {target}residues {start}-{end}: "
                     f"{entry['aligned_residues']} aligned, {100 * entry['identity']:.1f}% identical")
    lines += [f"  warning: {warning}" for warning in data.get("template_warnings", [])]
    return lines


def write_summary(output_dir: Path, data: dict[str, Any]) -> tuple[Path, Path]:
    """summary.json and summary.txt in `output_dir`."""
    json_path, text_path = output_dir / "summary.json", output_dir / "summary.txt"
    write_atomic(json_path, json.dumps(data, indent=2))
    write_atomic(text_path, summary_text(data))
    return json_path, text_path
