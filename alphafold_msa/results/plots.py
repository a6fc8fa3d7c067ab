"""The plots people look at first, as PNG: pLDDT and PAE of every model, MSA coverage."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from alphafold_msa.msa.alignment import GAP_ID, Msa
from alphafold_msa.msa.stats import coverage, sequence_identity

DPI = 100
MAX_DRAWN_ROWS = 2000  # the coverage image is 500 pixels high; deeper alignments are drawn sampled
PAE_COLUMNS, PAE_WIDTH = 5, 17.0  # pae.png: five panels side by side, 17 inches wide at most


def _figure(width: float, height: float):
    """A figure drawn straight to PNG by the Agg canvas: no pyplot, no display, no global state,
    so plots can be drawn in a background thread while the network runs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    """The figure as PNG; its title also goes into the file's Title text field (readable without
    looking at the image)."""
    figure.tight_layout()
    titles = [figure.get_suptitle(), *(axes.get_title() for axes in figure.axes)]
    title = " | ".join(text.replace("\n", " ") for text in titles if text)
    figure.savefig(path, metadata={"Title": title})
    return path


def _chain_boundaries(axes, boundaries: Sequence[int], vertical: bool = True, horizontal: bool = False) -> None:
    for boundary in boundaries:
        if vertical:
            axes.axvline(boundary - 0.5, color="black", linewidth=0.8)
        if horizontal:
            axes.axhline(boundary - 0.5, color="black", linewidth=0.8)


def _title(title: str, caveat: str | None) -> str:
    """A plot's title, with the caveat (e.g. random demo weights) on a second line."""
    return f"{title}\n{caveat}" if caveat else title


def plot_plddt(labels: Sequence[str], plddts: Sequence[np.ndarray], path: Path,
               boundaries: Sequence[int] = (), caveat: str | None = None,
               covered: Sequence[tuple[int, int]] = ()) -> Path:
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
             title=_title("Predicted lDDT per position", caveat))
    axes.legend(fontsize=7, loc="lower left")
    return _save(figure, path)


def pae_grid(count: int) -> tuple[int, int]:
    """(rows, columns) of `count` PAE panels: side by side up to PAE_COLUMNS (ColabFold's five models
    in a row), more in a near-square grid."""
    columns = min(count, max(PAE_COLUMNS, math.ceil(math.sqrt(count))))
    return math.ceil(count / columns), columns


def plot_pae(labels: Sequence[str], paes: Sequence[np.ndarray], path: Path, boundaries: Sequence[int] = (),
             caveat: str | None = None) -> Path:
    """The predicted aligned error matrix (row: aligned residue, y; scored residue, x), 0-30 A, of each
    model: one panel per model, titled with its label, in the order given (see pae_grid), one colour
    bar for all; panels shrink past PAE_COLUMNS columns, so the image stays within PAE_WIDTH inches."""
    rows, columns = pae_grid(len(paes))
    panel = min(3.4, PAE_WIDTH / columns)  # inches: a grid of more than five columns is as wide as five
    figure = _figure(max(5.5, panel * columns + 0.8), max(4.5, (panel - 0.2) * rows + 0.6))
    grid = figure.add_gridspec(rows, columns + 1, width_ratios=[1] * columns + [0.05])
    for index, (label, pae) in enumerate(zip(labels, paes)):
        axes = figure.add_subplot(grid[index // columns, index % columns])
        length = len(pae)
        image = axes.imshow(pae, cmap="bwr", vmin=0, vmax=30, extent=(0.5, length + 0.5, length + 0.5, 0.5))
        _chain_boundaries(axes, [b + 1 for b in boundaries], horizontal=True)
        axes.set_title(label, fontsize=min(12.0, 3.2 * panel))
        if columns <= PAE_COLUMNS:
            axes.set(xlabel="Scored residue", ylabel="Aligned residue")
    figure.colorbar(image, cax=figure.add_subplot(grid[:, -1]), label="Expected position error (A)")
    figure.suptitle(_title("Predicted aligned error", caveat))
    return _save(figure, path)


def coverage_row_order(identity: np.ndarray, paired_block: int = 0) -> np.ndarray:
    """Rows from the bottom of the coverage plot up: the first `paired_block` rows (a complex's query
    and paired rows) by identity to the query, then the others by identity."""
    return np.concatenate([np.argsort(-identity[:paired_block], kind="stable"),
                           paired_block + np.argsort(-identity[paired_block:], kind="stable")])


def plot_coverage(msa: Msa, path: Path, boundaries: Sequence[int] = (), caveat: str | None = None,
                  depth: int | None = None, paired_rows: int = 0) -> Path:
    """ColabFold-style MSA coverage: rows sorted by identity to the query, coloured by it, and the
    number of rows covering each position. The title gives `depth` sequences (default: the rows
    drawn; a complex passes its own count, as its summary gives it). For a complex, the query and its
    `paired_rows` (the first rows of `msa`) are drawn as their own block at the bottom, marked off by a line."""
    figure = _figure(8, 5)
    axes = figure.add_subplot()
    identity = sequence_identity(msa)
    paired_block = min(paired_rows + 1, msa.depth) if paired_rows else 0
    order = coverage_row_order(identity, paired_block)
    if len(order) > MAX_DRAWN_ROWS:  # more rows than pixels: every k-th row of the sorted alignment
        order = order[np.linspace(0, len(order) - 1, MAX_DRAWN_ROWS).astype(int)]
    covered = msa.matrix[order] != GAP_ID
    image = np.where(covered, identity[order][:, None].astype(np.float32), np.float32(np.nan))
    shown = axes.imshow(image, aspect="auto", interpolation="nearest", cmap="rainbow_r", vmin=0, vmax=1,
                        origin="lower", extent=(0.5, msa.length + 0.5, 0, msa.depth))
    axes.plot(np.arange(1, msa.length + 1), coverage(msa), color="black", linewidth=1)
    _chain_boundaries(axes, [b + 1 for b in boundaries])
    if paired_block:
        axes.axhline(paired_block, color="black", linestyle="--", linewidth=1)
        axes.text(1, paired_block, f" paired rows ({paired_rows}) below", va="bottom", ha="left", fontsize=8)
    figure.colorbar(shown, ax=axes, label="Sequence identity to query")
    axes.set(xlim=(0.5, msa.length + 0.5), ylim=(0, msa.depth), xlabel="Position", ylabel="Sequences",
             title=_title(f"Sequence coverage ({msa.depth if depth is None else depth} sequences)", caveat))
    return _save(figure, path)
