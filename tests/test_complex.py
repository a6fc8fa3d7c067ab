"""Complexes: ColabFold's complex a3m and per-chain files, multimer and pTM-complex features, errors."""

from __future__ import annotations

import json
import lzma
import pickle

import numpy as np
import pytest

from alphafold_msa.errors import MsaError
from alphafold_msa.model.complex_features import build_multimer_features, build_ptm_complex_features
from alphafold_msa.msa import ComplexMsa, assemble_complex, parse_input, parse_msa, read_input, read_msa


def _records(path) -> list[tuple[str, str]]:
    """(header, sequence) pairs of a two-line a3m, as text."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [(lines[i][1:], lines[i + 1]) for i in range(0, len(lines), 2)]


def colabfold_complex_a3m(unpaired: list, paired: list | None, lengths: list[int], copies: list[int]) -> str:
    """A complex a3m laid out as ColabFold writes it, built from the text of per-chain a3m files."""
    out = [f"#{','.join(map(str, lengths))}\t{','.join(map(str, copies))}"]
    if paired:
        for rows in zip(*(_records(path) for path in paired)):
            out += [">" + "\t".join(h for h, _ in rows), "".join(s for _, s in rows)]
    for index, path in enumerate(unpaired):
        before, after = "-" * sum(lengths[:index]), "-" * sum(lengths[index + 1:])
        for header, sequence in _records(path):
            out += [f">{header}", before + sequence + after]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def heterodimer(testdata):
    data = testdata / "colabfold"
    return {"unpaired": [data / "3G5O_A.a3m", data / "3G5O_B.a3m"],
            "paired": [data / "3G5O_A.paired.a3m", data / "3G5O_B.paired.a3m"]}


def _assert_same_features(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


def test_heterodimer_assembled_both_ways_gives_identical_features(heterodimer, tmp_path):
    complex_a3m = tmp_path / "3G5O.a3m"
    complex_a3m.write_text(colabfold_complex_a3m(heterodimer["unpaired"], heterodimer["paired"], [93, 87], [1, 1]))
    from_colabfold = read_input(complex_a3m)
    assert isinstance(from_colabfold, ComplexMsa)
    assert from_colabfold.chain_lengths == [93, 87] and from_colabfold.paired[0].depth == 15

    chains = [read_msa(path) for path in heterodimer["unpaired"]]
    per_chain_pairs = assemble_complex(chains, paired=[read_msa(p) for p in heterodimer["paired"]])
    joined = tmp_path / "3G5O_AB.paired.a3m"
    joined.write_text("".join(f">{ha}\n{sa}{sb}\n" for (ha, sa), (_, sb) in
                              zip(*(_records(p) for p in heterodimer["paired"]))))
    joined_pairs = assemble_complex(chains, paired=[read_msa(joined)])

    reference = build_multimer_features(from_colabfold)
    assert reference["aatype"].shape == (180,) and set(reference["asym_id"]) == {1, 2}
    assert reference["msa"].shape[0] > 2048, "paired rows on top of both chains' unpaired rows"
    _assert_same_features(reference, build_multimer_features(per_chain_pairs))
    _assert_same_features(reference, build_multimer_features(joined_pairs))
    round_trip = parse_input(per_chain_pairs.to_colabfold_a3m())
    _assert_same_features(reference, build_multimer_features(round_trip))


def test_homodimer_from_one_alignment(testdata, tmp_path):
    path = testdata / "colabfold" / "3G5O_A.a3m"
    homodimer = assemble_complex([read_msa(path)], copies=[2])
    written = tmp_path / "dimer.a3m"
    written.write_text(colabfold_complex_a3m([path], None, [93], [2]))
    _assert_same_features(build_multimer_features(homodimer), build_multimer_features(read_input(written)))
    features = build_multimer_features(homodimer)
    assert features["aatype"].shape == (186,)
    assert list(features["asym_id"][[0, 92, 93, 185]]) == [1, 1, 2, 2]
    assert set(features["entity_id"]) == {1} and list(features["sym_id"][[0, 93]]) == [1, 2]


def test_ptm_complex_sequence_features_equal_colabfold_reference(heterodimer, testdata):
    from alphafold_msa.model.config import network_config
    from alphafold_msa.model.runner import ModelRunner

    chains = [read_msa(path) for path in heterodimer["unpaired"]]
    complex_msa = assemble_complex(chains, paired=[read_msa(p) for p in heterodimer["paired"]])
    raw = build_ptm_complex_features(complex_msa)
    runner = ModelRunner(testdata, "full", "monomer_ptm", bucketing=False)  # feature processing only
    processed = runner.process(raw, num_recycle=3, random_seed=0)
    path = testdata / "colabfold" / "3G5O_A_3G5O_B.complex_ptm.model_feat.pkl.xz"
    with lzma.open(path) as handle:
        reference = pickle.load(handle)
    for key in ("aatype", "residue_index", "seq_mask", "target_feat", "asym_id"):
        np.testing.assert_array_equal(processed[key], reference[key], err_msg=key)
    assert network_config("monomer_ptm", "full").data.eval.max_msa_clusters == reference["msa_feat"].shape[1]


@pytest.mark.parametrize("text, message", [
    ("#93,87\t1\n>101\tx\nMK\n", "line 1: 2 chain lengths but 1 copy numbers"),
    ("#3,2\t1,1\n>101\t102\nMKVL\n", "line 2: row '101' has 4 aligned columns, expected 5 (chains of 3+2 residues"),
    ("#3,2\t1,1\n>101\t102\nMKVLA\n>x\nMKV--\n>y\nMKVLAQ\n", "line 6: row 'y' has 6 aligned columns, expected 5"),
    ("#3,2\t0,1\n>101\t102\nMKVLA\n", "line 1: chain lengths and copy numbers must be at least 1"),
    ("#3,2\t1,1\n>101\n---LA\n", "the first row must be the query of all chains (3+2 residues)"),
])
def test_malformed_complex_a3m_is_reported(text, message):
    with pytest.raises(MsaError) as error:
        parse_input(text, source="complex.a3m")
    assert message in str(error.value) and str(error.value).startswith("complex.a3m: ")


def test_a_complex_a3m_is_not_silently_read_as_one_chain():
    with pytest.raises(MsaError, match="is ColabFold's complex a3m \\(2 chains\\), not a single-chain alignment"):
        parse_msa("#4,5\t1,1\n>101\t102\nMKVLAGHWP\n")


def test_assembly_errors_name_the_mismatch(heterodimer, tmp_path):
    a, b = (read_msa(path) for path in heterodimer["unpaired"])
    pa, pb = (read_msa(path) for path in heterodimer["paired"])
    with pytest.raises(MsaError, match="3 copy numbers for 2 chain alignments"):
        assemble_complex([a, b], copies=[1, 1, 1])
    with pytest.raises(MsaError, match="paired alignment's query differs from the query of"):
        assemble_complex([a, b], paired=[pb, pa])
    wrong = tmp_path / "wrong.a3m"
    wrong.write_text(f">q\n{b.query_sequence}{a.query_sequence}\n")
    with pytest.raises(MsaError, match=r"not the chains' queries concatenated \(93\+87 residues"):
        assemble_complex([a, b], paired=[read_msa(wrong)])
    short = tmp_path / "short.a3m"
    short.write_text("".join(f">{h}\n{s}\n" for h, s in _records(heterodimer["paired"][1])[:5]))
    with pytest.raises(MsaError, match="paired alignments must have the same number of rows"):
        assemble_complex([a, b], paired=[pa, read_msa(short)])


@pytest.mark.slow
def test_heterodimer_prediction_with_multimer_and_ptm_modes(heterodimer, reduced_weights, runners, tmp_path):
    from Bio.PDB import MMCIFParser, PDBParser

    from alphafold_msa.predict import run_prediction

    chains = [read_msa(path) for path in heterodimer["unpaired"]]
    complex_msa = assemble_complex(chains, paired=[read_msa(p) for p in heterodimer["paired"]])
    for mode in ("multimer", "ptm"):
        result = run_prediction(complex_msa, tmp_path / mode, reduced_weights, model_config="reduced",
                                complex_mode=mode, models=[1, 2], num_recycle=1, formats=["pdb", "cif"],
                                runners=runners)
        pdb = PDBParser(QUIET=True).get_structure(mode, result.best.structure_paths["pdb"])
        cif = MMCIFParser(QUIET=True).get_structure(mode, result.best.structure_paths["cif"])
        for structure in (pdb, cif):
            assert [(c.id, len(c)) for c in structure[0]] == [("A", 93), ("B", 87)]
        scores = json.loads(result.best.scores_path.read_text())
        assert 0 <= scores["iptm"] <= 1 and len(scores["plddt"]) == 180
        assert scores["ranking_confidence"] == pytest.approx(0.8 * scores["iptm"] + 0.2 * scores["ptm"], abs=1e-3)
        assert set(scores["chain_mean_plddt"]) == {"A", "B"} and set(scores["chain_pair_pae"]) == {"A-B", "B-A"}
        ranking = json.loads(result.ranking_path.read_text())
        assert ranking["metric"] == "0.8*iptm+0.2*ptm"
        coverage = result.msa_summary["coverage"]  # of the chains' alignments side by side
        assert len(coverage) == 180 and min(coverage) >= 1 and set(result.plots) == {"plddt", "pae", "coverage"}
        summary = json.loads(result.summary_path.read_text())
        assert summary["iptm"] == result.best.iptm and [c["chain_ids"] for c in summary["chains"]] == [["A"], ["B"]]
        confidences = [0.8 * ranking["iptm"][k] + 0.2 * ranking["ptm"][k] for k in ranking["order"]]
        assert confidences == sorted(confidences, reverse=True)
        assert result.msa_summary["complex_mode"] == mode and result.msa_summary["paired_rows"] == 14
        assert [c["chain_ids"] for c in result.msa_summary["chains"]] == [["A"], ["B"]]
        assert result.models[0].model_name.endswith("_multimer_v3" if mode == "multimer" else "_ptm")


def test_unpaired_complex_is_noted(testdata, reduced_weights, runners, tmp_path):
    from alphafold_msa.predict import run_prediction

    chains = [read_msa(testdata / "pfam" / "20aa-alitest.afa"), read_msa(testdata / "colabfold" / "6A5J.a3m")]
    result = run_prediction(assemble_complex(chains, copies=[1, 2]), tmp_path, reduced_weights,
                            model_config="reduced", models=[1], num_recycle=0, runners=runners)
    assert result.msa_summary["note"].startswith("chains unpaired: block-diagonal MSA")
    interface = result.best.scores["interface"]  # ipSAE, pDockQ, pDockQ2 ... of every ordered chain pair
    assert set(interface["pairs"]) == {"A-B", "A-C", "B-A", "B-C", "C-A", "C-B"}
    assert 0 <= interface["ipsae"] <= 1 and interface["ipsae"] == max(p["ipsae"] for p in interface["pairs"].values())
    assert interface["pairs"]["A-B"]["ipsae"] == interface["pairs"]["B-A"]["ipsae"]
    assert result.summary["interface"] == interface and "interface of the top model: ipSAE" in \
        (tmp_path / "summary.txt").read_text()
    assert "note: chains unpaired: block-diagonal MSA" in result.summary_path.with_suffix(".txt").read_text()
    text = result.best.structure_path.read_text()
    assert {line[21] for line in text.splitlines() if line.startswith("ATOM")} == {"A", "B", "C"}
