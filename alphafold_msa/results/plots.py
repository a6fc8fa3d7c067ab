"""The plots people look at first, as PNG: pLDDT of every model, PAE of the top model, MSA coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from alphafold_msa.msa.alignment import GAP_ID, Msa

DPI = 100
MAX_DRAWN_ROWS = 2000  # the coverage image is 500 pixels high; deeper alignments are drawn sampled


def _figure(width: float, height: float):
    """A figure drawn straight to PNG by the Agg canvas: no pyplot, no display, no global state,
    so plots can be drawn in a background thread while the network runs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path)
    return path


def _chain_boundaries(axes, boundaries: Sequence[int], vertical: bool = True, horizontal: bool = False) -> None:
    for boundary in boundaries:
        if vertical:
            axes.axvline(boundary - 0.5, color="black", linewidth=0.8)
        if horizontal:
            axes.axhline(boundary - 0.5, color="black", linewidth=0.8)


def plot_plddt(labels: Sequence[str], plddts: Sequence[np.ndarray], path: Path,
               boundaries: Sequence[int] = (), covered: Sequence[tuple[int, int]] = ()) -> Path:
    """Per-residue pLDDT of every model (rank order), with AlphaFold's confidence bands and the
    residue ranges templates cover (`covered`: first and last residue, 1-based) shaded."""
    figure = _figure(8, 4)
    axes = figure.add_subplot()
    for index, (start, end) in enumerate(covered):
        axes.axvspan(start - 0.5, end + 0.5, color="grey", alpha=0.12, linewidth=0,
                     label="template coverage" if index == 0 else None)
    for label, plddt in zip(labels, plddts):
        axes.plot(np.arange(1, len(plddt) + 1), plddt, label=label, linewidth=1.2)
    for low, colour in ((90, "#0053d6"), (70, "#65cbf3"), (50, "#ffdb13")):
        axes.axhline(low, color=colour, linestyle=":", linewidth=0.8)
    _chain_boundaries(axes, [b + 1 for b in boundaries])
    axes.set(xlim=(1, max(len(p) for p in plddts)), ylim=(0, 100), xlabel="Residue", ylabel="pLDDT",
             title="Predicted lDDT per position")
    axes.legend(fontsize=7, loc="lower left")
    return _save(figure, path)


def plot_pae(label: str, pae: np.ndarray, path: Path, boundaries: Sequence[int] = ()) -> Path:
    """The predicted aligned error matrix of one model (row: aligned residue), 0-30 A."""
    figure = _figure(5.5, 4.5)
    axes = figure.add_subplot()
    length = len(pae)
    image = axes.imshow(pae, cmap="bwr", vmin=0, vmax=30, extent=(0.5, length + 0.5, length + 0.5, 0.5))
    _chain_boundaries(axes, [b + 1 for b in boundaries], horizontal=True)
    figure.colorbar(image, ax=axes, label="Expected position error (A)")
    axes.set(xlabel="Scored residue", ylabel="Aligned residue", title=f"Predicted aligned error: {label}")
    return _save(figure, path)


def sequence_identity(msa: Msa) -> np.ndarray:
    """Each row's identity to the query over the positions the row covers (0 for an empty row)."""
    covered = msa.matrix != GAP_ID
    same = (msa.matrix == msa.matrix[0]) & covered
    return same.sum(axis=1) / np.maximum(covered.sum(axis=1), 1)


def coverage(msa: Msa) -> np.ndarray:
    """Rows with a residue (not a gap) at each query position."""
    return (msa.matrix != GAP_ID).sum(axis=0)


def plot_coverage(msa: Msa, path: Path, boundaries: Sequence[int] = ()) -> Path:
    """ColabFold-style MSA coverage: rows sorted by identity to the query, coloured by it, and the
    number of rows covering each position."""
    figure = _figure(8, 5)
    axes = figure.add_subplot()
    identity = sequence_identity(msa)
    order = np.argsort(-identity, kind="stable")
    if len(order) > MAX_DRAWN_ROWS:  # more rows than pixels: every k-th row of the sorted alignment
        order = order[np.linspace(0, len(order) - 1, MAX_DRAWN_ROWS).astype(int)]
    covered = msa.matrix[order] != GAP_ID
    image = np.where(covered, identity[order][:, None].astype(np.float32), np.float32(np.nan))
    shown = axes.imshow(image, aspect="auto", interpolation="nearest", cmap="rainbow_r", vmin=0, vmax=1,
                        origin="lower", extent=(0.5, msa.length + 0.5, 0, msa.depth))
    axes.plot(np.arange(1, msa.length + 1), coverage(msa), color="black", linewidth=1)
    _chain_boundaries(axes, [b + 1 for b in boundaries])
    figure.colorbar(shown, ax=axes, label="Sequence identity to query")
    axes.set(xlim=(0.5, msa.length + 0.5), ylim=(0, msa.depth), xlabel="Position", ylabel="Sequences",
             title=f"Sequence coverage ({msa.depth} sequences)")
    return _save(figure, path)
