"""The numbers behind the coverage plot, and the plots as images."""

from __future__ import annotations

import numpy as np
from PIL import Image

from alphafold_msa.msa import parse_msa
from alphafold_msa.msa.stats import coverage, sequence_identity
from alphafold_msa.results.plots import plot_coverage, plot_pae, plot_plddt


def test_identity_counts_only_the_positions_a_row_covers():
    msa = parse_msa(">q\nACDEF\n>same\nACDEF\n>half\nAC-KK\n>end\n---EF\n>none\n-----\n")
    np.testing.assert_allclose(sequence_identity(msa), [1.0, 1.0, 0.5, 1.0, 0.0])
    assert coverage(msa).tolist() == [3, 3, 2, 4, 4]


def test_plots_are_images_even_for_deep_alignments(tmp_path):
    rng = np.random.default_rng(0)
    query = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 40))
    rows = [query] + ["".join(c if rng.random() < 0.6 else "-" for c in query) for _ in range(5000)]
    msa = parse_msa("".join(f">s{i}\n{r}\n" for i, r in enumerate(rows)))
    paths = [plot_coverage(msa, tmp_path / "coverage.png", boundaries=[20]),
             plot_plddt(["a", "b"], [rng.uniform(0, 100, 40), rng.uniform(0, 100, 40)], tmp_path / "plddt.png"),
             plot_pae("a", rng.uniform(0, 30, (40, 40)), tmp_path / "pae.png", boundaries=[20])]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 400
