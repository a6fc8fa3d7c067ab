"""report.html: one offline page for a prediction's folder, written from the files the folder holds.

The page shows the top model in 3D (3Dmol.js, coloured by pLDDT in AlphaFold's four bands or by chain) with a
switcher for the ranked models, the PAE matrix (hover: the residue pair and its value; chain boundaries drawn),
pLDDT per residue, the scores table, a complex's interface scores, a sampling run's structural states, the
alignment's coverage and the demo-weights warning. Everything is in the one file: the viewer (assets/3Dmol-min.js,
vendored by web/build.sh, its licence in assets/), the page's script (assets/report.js) and the data (gzip,
base64; each PAE as one byte per residue pair, 1/8 Å steps up to 31.875 Å); the pages of a batch or screen share
one viewer, report-viewer.js in the batch folder. Its Content-Security-Policy allows no
request: the page works offline and cannot fetch anything. screen_report writes a screen's page: its complexes'
table, sortable, each linking to the complex's own report.html.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alphafold_msa.files import write_atomic
from alphafold_msa.protocol.archive import REPORT_FILE, VIEWER_FILE
from alphafold_msa.protocol.output import DEMO_WEIGHTS_NOTE

PAE_STEP = 8  # bytes per Å: PAE 0..31.875 Å in one byte
# The most ranked models a page holds (the top ones; --keep-top may keep up to 1,000): 25 at 500 residues is
# about 13 MB of page. Fewer for long queries: their PAE matrices (one byte per residue pair) stay within
# PAE_BUDGET_BYTES, at least the top model's.
MAX_MODELS = 25
PAE_BUDGET_BYTES = 25_000_000
# No request of any kind: inline scripts and styles, the page's own images as data: URIs, and (a batch's pages) the
# viewer script from a file beside them.
POLICY = ("default-src 'none'; script-src 'self' file: 'unsafe-inline'; style-src 'unsafe-inline'; "
          "img-src data: blob:; worker-src blob:")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
.warning { background: #fff3cd; border: 1px solid #e0b000; padding: .6em; }
.controls { display: flex; gap: 1em; align-items: center; margin: .5em 0; }
.views { display: flex; gap: 1.5em; flex-wrap: wrap; }
#viewer { width: 560px; height: 460px; position: relative; border: 1px solid #ccc; }
#pae-canvas { width: 420px; height: 420px; image-rendering: pixelated; border: 1px solid #ccc; cursor: crosshair; }
figure { margin: 0; } figcaption { font-size: .9em; min-height: 1.4em; }
.legend span { margin-right: 1em; } .legend i { display: inline-block; width: 1em; height: 1em; margin-right: .3em;
  vertical-align: middle; }
svg.plddt { width: 100%; max-width: 900px; height: 160px; border: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; } th, td { border: 1px solid #ccc; padding: .2em .6em; }
th { background: #f3f3f3; cursor: default; } img.coverage { max-width: 100%; }
th.sortable { cursor: pointer; }
"""


def _asset(name: str) -> str:
    return resources.files("alphafold_msa.results").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _packed(data: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), mtime=0)).decode()


def _pae_bytes(pae: Any) -> str | None:
    """One byte per residue pair (PAE_STEP per Å), base64."""
    if pae is None:
        return None
    values = np.clip(np.rint(np.asarray(pae, dtype=float) * PAE_STEP), 0, 255).astype(np.uint8)
    return base64.b64encode(values.tobytes()).decode()


def _chains(summary: dict[str, Any], length: int) -> list[dict[str, Any]]:
    """Each chain copy's id, first residue and length (one chain A when the summary has none)."""
    chains, start = [], 0
    for chain in summary.get("chains") or []:
        for chain_id in chain.get("chain_ids", []):
            chains.append({"id": chain_id, "start": start, "length": chain["query_length"]})
            start += chain["query_length"]
    return chains or [{"id": "A", "start": 0, "length": length}]


def report_data(folder: Path) -> dict[str, Any] | None:
    """What the page shows, read from the prediction's files in `folder`; None without a ranked model."""
    summary = _json(folder / "summary.json") or {}
    length = summary.get("query_length")
    most = min(MAX_MODELS, max(1, PAE_BUDGET_BYTES // length**2)) if isinstance(length, int) and length else 1
    models = []
    for entry in summary.get("models", [])[:most]:
        rank = entry["rank"]
        path = next((folder / f"ranked_{rank}.{fmt}" for fmt in ("pdb", "cif")
                     if (folder / f"ranked_{rank}.{fmt}").is_file()), None)
        scores = _json(folder / f"scores_rank_{rank}.json") or {}
        if path is None or "plddt" not in scores:
            continue
        models.append({"rank": rank, "name": entry["model"], "seed": entry["seed"], "format": path.suffix[1:],
                       "structure": path.read_text(), "plddt": scores["plddt"], "pae": _pae_bytes(scores.get("pae")),
                       "mean_plddt": entry.get("mean_plddt"), "ptm": entry.get("ptm"), "iptm": entry.get("iptm"),
                       "ranking_confidence": scores.get("ranking_confidence"),
                       "interface": scores.get("interface"), "chain_pair_pae": scores.get("chain_pair_pae")})
    if not models:
        return None
    length = len(models[0]["plddt"])  # the structure's residues: every copy of a complex's chains
    data: dict[str, Any] = {"title": summary.get("query_name") or folder.name, "length": length,
                            "chains": _chains(summary, length), "models": models,
                            "summary": {k: summary.get(k) for k in ("num_sequences", "num_sequences_filtered", "note")},
                            "ranked": len(summary.get("models", [])),
                            "demo_weights": DEMO_WEIGHTS_NOTE if summary.get("demo_weights") else None}
    clusters = _json(folder / "clusters.json")
    if clusters and clusters.get("clusters"):
        data["ensemble"] = [{"state": c["cluster"], "size": c["size"], "representative": c["representative"],
                             "mean_tm": c.get("mean_tm_within")} for c in clusters["clusters"]]
    if (folder / "coverage.png").is_file():
        data["coverage_png"] = base64.b64encode((folder / "coverage.png").read_bytes()).decode()
    return data


def page(title: str, body: str, scripts: Sequence[str], data: dict[str, Any] | None = None,
         files: Sequence[str] = ()) -> str:
    """A whole offline page: the policy, the style, `body`, the data (packed), the script `files` (relative paths)
    and `scripts` inline."""
    packed = f'<script id="report-data" type="application/octet-stream">{_packed(data)}</script>\n' if data else ""
    inline = "".join(f'<script src="{html.escape(name)}"></script>\n' for name in files)
    inline += "".join(f"<script>{script}</script>\n" for script in scripts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n"
            f'<pre id="selftest" hidden></pre>\n{packed}{inline}</body></html>\n')


def write_report(folder: Path, shared_viewer: bool = False) -> Path | None:
    """report.html in a prediction's `folder`, from its files; None when it has no ranked model. With
    `shared_viewer` (a batch's or screen's folder below the batch's), the page loads the viewer from
    ../report-viewer.js (write_shared_viewer) instead of holding its own copy."""
    data = report_data(folder)
    if data is None:
        return None
    scripts = [_asset("report.js")] if shared_viewer else [_asset("3Dmol-min.js"), _asset("report.js")]
    text = page(data["title"], '<main id="report"></main>', scripts, data,
                files=[f"../{VIEWER_FILE}"] if shared_viewer else [])
    path = folder / REPORT_FILE
    write_atomic(path, text)
    return path


def write_shared_viewer(directory: Path) -> Path:
    """The viewer a batch's pages share, in the batch folder (written when missing or not this version's)."""
    path = directory / VIEWER_FILE
    viewer = _asset("3Dmol-min.js")
    if not path.is_file() or path.read_text(encoding="utf-8", errors="replace") != viewer:
        write_atomic(path, viewer)
    return path


SCREEN_SORT = """
for (const th of document.querySelectorAll("th.sortable")) {
  th.addEventListener("click", () => {
    const body = th.closest("table").tBodies[0], column = th.cellIndex;
    const descending = th.dataset.order !== "desc";
    th.dataset.order = descending ? "desc" : "asc";
    const key = (row) => {
      const text = row.cells[column].textContent, value = parseFloat(text);
      return isNaN(value) ? text : value;
    };
    const order = (a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (descending ? -1 : 1);
    const rows = [...body.rows].sort(order);
    body.append(...rows);
  });
}
"""


def screen_report(directory: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str], rank_by: str) -> Path:
    """report.html of a screen: its table (sortable by any column), each complex linking to its own page."""
    def cell(row: dict[str, Any], column: str) -> str:
        value = row.get(column)
        text = "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        if column == "chains" and value:  # the alignment files' names, not where they lie
            text = ",".join(Path(member).name for member in str(value).split(","))
        if column == "name" and (directory / str(value) / REPORT_FILE).is_file():
            return f'<a href="{html.escape(str(value))}/{REPORT_FILE}">{html.escape(text)}</a>'
        return html.escape(text)

    head = "".join(f'<th class="sortable">{html.escape(column)}</th>' for column in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(row, c)}</td>" for c in columns) + "</tr>" for row in rows)
    text = page("interaction screen", f"<main><h1>Interaction screen</h1><p>{len(rows)} complexes, ranked by "
                f"{html.escape(rank_by)}; click a column to sort.</p><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table></main>", [SCREEN_SORT])
    path = directory / REPORT_FILE
    write_atomic(path, text)
    return path
