"""The numbers behind the coverage plot, and the plots as images."""

from __future__ import annotations

import numpy as np
from PIL import Image

from alphafold_msa.msa import parse_msa
from alphafold_msa.msa.stats import coverage, sequence_identity
from alphafold_msa.results.plots import pae_grid, plot_coverage, plot_pae, plot_plddt


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
             plot_pae(["a"], [rng.uniform(0, 30, (40, 40))], tmp_path / "pae.png", boundaries=[20])]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 400



def test_pae_panels_sit_side_by_side_up_to_five_then_in_a_square_as_wide(tmp_path):
    assert [pae_grid(n) for n in (1, 2, 5, 7, 25, 26, 100)] == [(1, 1), (1, 2), (1, 5), (2, 5), (5, 5), (5, 6),
                                                                 (10, 10)]
    pae = np.random.default_rng(1).uniform(0, 30, (30, 30))
    widths = {}
    for count in (5, 100):
        labels = [f"rank {i}: model_1_ptm seed {i}" for i in range(count)]
        with Image.open(plot_pae(labels, [pae] * count, tmp_path / f"pae{count}.png")) as image:
            widths[count] = image.size[0]
            assert image.text["Title"] == " | ".join(["Predicted aligned error", *labels])
    assert widths[100] == widths[5] <= 1800
