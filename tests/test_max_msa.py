"""The job field max_msa (--max-msa CLUSTERS:EXTRA): the network's MSA crops, ColabFold's meaning."""

from __future__ import annotations

import json

import pytest

from alphafold_msa.errors import ConfigError
from alphafold_msa.launcher.cli import main
from alphafold_msa.model.features import build_features
from alphafold_msa.msa import read_msa
from alphafold_msa.predict import check_max_msa
from alphafold_msa.protocol.spec import JobSpec


def test_the_crops_asked_for_are_the_processed_features_shapes(testdata, reduced_runner):
    raw = build_features(read_msa(testdata / "colabfold" / "3G5O_A.a3m"))  # 7,527 rows: both crops are full
    default = reduced_runner.process(raw, 0, 0)
    cropped = reduced_runner.process(raw, 0, 0, max_msa=(8, 16))
    assert default["msa_feat"].shape[1:3] == (16, 93) and default["extra_msa"].shape[1] == 32
    assert cropped["msa_feat"].shape[1:3] == (8, 93) and cropped["extra_msa"].shape[1] == 16


def test_alphafold_multimer_runs_a_network_of_those_crops(reduced_weights, runners):
    runner = runners.get(reduced_weights, "reduced", "multimer")
    evo = runner.network("xla", max_msa=(8, 16)).config.model.embeddings_and_evoformer
    assert (evo.num_msa, evo.num_extra_msa) == (8, 16)
    default = runner.network("xla").config.model.embeddings_and_evoformer
    assert (default.num_msa, default.num_extra_msa) == (16, 32), "the default network is left as it is"


def test_crops_beyond_what_the_models_read_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"^input.max_msa: 32:64 is more than the 16:32 MSA rows .*monomer_ptm"):
        check_max_msa(JobSpec(max_msa=(32, 64)), "monomer_ptm", "reduced")
    with pytest.raises(ConfigError, match=r"^input.max_msa: 600:64 is more than the 508:2048 .* multimer models"):
        check_max_msa(JobSpec(max_msa=(600, 64)), "multimer", "full")
    check_max_msa(JobSpec(max_msa=(512, 5120)), "monomer_ptm", "full")


@pytest.mark.parametrize("value, message", [("16:", "--max-msa: expected CLUSTERS:EXTRA such as 16:32, got '16:'"),
                                            ("0:5", "--max-msa: 0 is less than the minimum of 1")])
def test_a_malformed_max_msa_is_one_line_before_anything_is_read(tmp_path, capsys, value, message):
    code = main(["--msa", str(tmp_path / "absent.a3m"), "--output", str(tmp_path / "x.pdb"), "--local",
                 "--max-msa", value])
    assert code == 2 and capsys.readouterr().err.strip() == f"error: {message}"


def test_a_local_prediction_with_max_msa(testdata, reduced_weights, runners, tmp_path, capsys):
    code = main(["--local", "--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--output", str(tmp_path / "x.pdb"),
                 "--param-dir", str(reduced_weights), "--model-config", "reduced", "--models", "1",
                 "--num-recycle", "0", "--max-msa", "8:16"], runners=runners)
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "x.scores.json").read_text())["model"] == "model_1_ptm"
