"""One prediction's samples run as parts (sample_slice) and merged (results/merge.py): the merged folder holds the
files one job writes, with the same samples, ranking, structures, scores and structural states."""

from __future__ import annotations

import json

import pytest

from alphafold_msa.predict import run_prediction
from alphafold_msa.protocol.spec import JobSpec
from alphafold_msa.results.merge import merge_parts

# What differs between any two runs of one job: time.
TIMED = {"seconds", "total_s", "fan_out", "kernels"}


def samples_lines(folder):
    header, *rows = (folder / "samples.tsv").read_text().splitlines()
    seconds = header.split("\t").index("seconds")
    return [[cell for index, cell in enumerate(row.split("\t")) if index != seconds] for row in [header, *rows]]


def untimed(value):
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMED}
    return [untimed(v) for v in value] if isinstance(value, list) else value


@pytest.mark.parametrize("fields, slices", [
    ({"models": (1, 2), "num_seeds": 4, "dropout": True, "keep_top": 3}, [(0, 3), (3, 4), (4, 8)]),
    ({"models": (1,), "msa_clusters": True, "keep_top": 4}, [(0, 5), (5, 14)]),
])
def test_merged_parts_are_the_whole_job(testdata, reduced_weights, runners, tmp_path, fields, slices):
    path = testdata / ("pfam/fn3.sto" if fields.get("msa_clusters") else "colabfold/6A5J.a3m")
    spec = JobSpec(num_recycle=0, relax="none", formats=("pdb", "cif"), **fields)

    def run(folder, **more):
        return run_prediction(path, folder, reduced_weights, spec.replace(**more), model_config="reduced",
                              runners=runners)

    whole = run(tmp_path / "whole")
    parts = [tmp_path / f"part{index}" for index in range(len(slices))]
    for folder, bounds in zip(parts, slices):
        run(folder, sample_slice=bounds)
    merged = tmp_path / "merged"
    merged.mkdir()
    merge_parts(parts, merged, {"sub_jobs": len(parts), "wall_s": 1.0})
    one = tmp_path / "whole"
    assert samples_lines(merged) == samples_lines(one)
    written = sorted(p.name for p in one.iterdir())
    assert sorted(p.name for p in merged.iterdir()) == written
    for name in written:
        if name.endswith((".pdb", ".cif", ".a3m", "config.json", "cite.bibtex", "ranking.json")) \
                or name.startswith("scores_"):
            assert (merged / name).read_text() == (one / name).read_text(), name
    for name in ("samples.json", "clusters.json", "msa_clusters.json", "summary.json"):
        if (one / name).exists():
            assert untimed(json.loads((merged / name).read_text())) == untimed(json.loads((one / name).read_text()))
    assert json.loads((merged / "summary.json").read_text())["fan_out"]["sub_jobs"] == len(parts)
    assert [m.key for m in whole.models] == json.loads((merged / "ranking.json").read_text())["order"]
