"""Amber relaxation: clashes removed from a structure of ideal geometry, predictions survive failures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alphafold_msa.errors import ConfigError
from alphafold_msa.launcher.cli import main
from alphafold_msa.model.relax import relax, violations
from alphafold_msa.predict import run_prediction
from alphafold_msa.testing.structures import ideal_structure, perturbed
from alphafold_msa.worker.handler import handle_job


def test_relaxation_removes_violations_and_keeps_sequence_and_chains():
    start = perturbed(ideal_structure(["MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPVKW"]), noise=0.4, seed=1)
    before = violations(start)
    assert before > 10, "the perturbed structure has clashes to remove"
    outcome = relax(start)
    assert outcome.pdb is not None, outcome.info
    assert outcome.info["platform"] == "CPU" and outcome.info["violations_before"] == before
    assert outcome.info["violations_after"] < before and outcome.info["violations_after"] <= 1
    assert outcome.info["energy_after_kcal_mol"] < outcome.info["energy_before_kcal_mol"]
    from alphafold.common import protein

    relaxed = protein.from_pdb_string(outcome.pdb)
    np.testing.assert_array_equal(relaxed.aatype, start.aatype)
    np.testing.assert_array_equal(relaxed.chain_index, start.chain_index)
    np.testing.assert_array_equal(relaxed.residue_index, start.residue_index)
    assert 0 < outcome.info["rmsd_to_unrelaxed"] < 1.0


def test_a_structure_that_cannot_be_relaxed_is_reported_not_raised():
    start = ideal_structure(["MKTAYIAKQR"])
    broken = perturbed(start, noise=0.0, seed=0)
    broken.atom_mask[4] = 0  # a residue without atoms: Amber refuses it
    outcome = relax(broken)
    assert outcome.pdb is None and "well-defined residues" in outcome.info["error"]
    assert outcome.info["seconds"] >= 0


def test_relaxation_past_its_time_limit_is_stopped_and_reported():
    start = perturbed(ideal_structure(["MKTAYIAKQRQISFVKSHFSRQ"]), noise=0.4, seed=2)
    outcome = relax(start, timeout_s=0.05)
    assert outcome.pdb is None
    assert outcome.info["error"] == "relaxation stopped after 0.05 s (ALPHAFOLD_MSA_RELAX_TIMEOUT)"
    assert 0.05 <= outcome.info["seconds"] < 30


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_a_bad_relaxation_time_limit_is_refused_before_predicting(monkeypatch, value, testdata, tmp_path):
    monkeypatch.setenv("ALPHAFOLD_MSA_RELAX_TIMEOUT", value)
    with pytest.raises(ConfigError,
                       match=f"ALPHAFOLD_MSA_RELAX_TIMEOUT must be a positive number of seconds, got '{value}'"):
        run_prediction(testdata / "colabfold" / "6A5J.a3m", tmp_path, tmp_path / "no-weights", relax="best")


@pytest.mark.slow
def test_local_prediction_writes_the_relaxed_top_model(testdata, reduced_weights, runners, tmp_path, capsys,
                                                       monkeypatch):
    # One OpenMM thread sums the forces in one order (the relaxation's child process inherits it): with several,
    # this random-weights model once kept all 71 of its violations on a loaded machine.
    monkeypatch.setenv("OPENMM_CPU_THREADS", "1")
    output = tmp_path / "rrm.pdb"
    code = main(["--local", "--msa", str(testdata / "pfam" / "RRM_1.sto"), "--output", str(output), "--param-dir",
                 str(reduced_weights), "--model-config", "reduced", "--models", "1", "--num-recycle", "0",
                 "--relax", "best", "--output-dir", str(tmp_path / "all"), "--format", "pdb,cif"], runners=runners)
    error = capsys.readouterr().err
    assert code == 0, error
    assert "relaxed on CPU in" in error
    # the relaxed model in every format asked for: rrm.cif is the relaxed one too, as mmCIF
    relaxed_cif = (tmp_path / "all" / "relaxed_rank_0.cif").read_text()
    assert relaxed_cif.startswith("data_") and output.with_suffix(".cif").read_text() == relaxed_cif
    assert relaxed_cif != (tmp_path / "all" / "ranked_0.cif").read_text()
    scores = json.loads(output.with_suffix(".scores.json").read_text())
    assert scores["relax"]["violations_after"] < scores["relax"]["violations_before"]
    assert output.read_text() == (tmp_path / "all" / "relaxed_rank_0.pdb").read_text()
    assert (tmp_path / "all" / "ranked_0.pdb").is_file()
    # ColabFold's name for the same file, and OpenMM among what to cite
    assert output.read_text() == (tmp_path / "all" / "relaxed_rank_001_model_1_ptm_seed_000.pdb").read_text()
    assert "@article{Eastman2017," in (tmp_path / "all" / "cite.bibtex").read_text()
    hydrogens = [line for line in output.read_text().splitlines()
                 if line.startswith("ATOM") and line[76:78].strip() == "H"]
    assert hydrogens, "Amber relaxation adds hydrogens"


def test_failed_relaxation_still_returns_the_prediction(monkeypatch, worker_env, small_msa):
    """A relaxation that cannot finish (here: its time limit is far too short) leaves the unrelaxed top
    model as the result, with the reason."""
    monkeypatch.setenv("ALPHAFOLD_MSA_RELAX_TIMEOUT", "0.01")
    monkeypatch.delenv("ALPHAFOLD_MSA_RELAX")  # the default: relax the top model
    job = {"msa": small_msa, "models": [1], "num_recycle": 0}
    result = handle_job({"id": "job-relax", "input": job})
    assert "error" not in result, result
    assert result["relaxed"] is False
    assert result["relax"]["error"] == "relaxation stopped after 0.01 s (ALPHAFOLD_MSA_RELAX_TIMEOUT)"
    assert result["structure"].startswith("MODEL") and len(result["plddt"]) == 13
