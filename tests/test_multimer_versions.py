"""AlphaFold-Multimer v1 and v2 beside v3 (multimer_version): their configs, their weights in the official layout
(triangle multiplications unfused) run by the same network code, and their archives provisioned when first asked
for, beside the weights already there."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile

import pytest
from weights_server import WeightsServer

from alphafold_msa.errors import ConfigError
from alphafold_msa.model import config as configs
from alphafold_msa.model.provision import ProvisionError, ensure_weights
from alphafold_msa.msa import assemble_complex, read_msa
from alphafold_msa.predict import check_max_msa, run_prediction
from alphafold_msa.protocol.spec import JobSpec
from alphafold_msa.testing.make_weights import make_weights, write_tar
from alphafold_msa.worker.handler import handle_job


@pytest.fixture(scope="module")
def v1_tar(tmp_path_factory) -> bytes:
    """Reduced AlphaFold-Multimer v1 weights for model 1, as the 2021-10-27 archive lays them out."""
    root = tmp_path_factory.mktemp("v1")
    written = make_weights(root, "reduced", presets=["multimer_v1"], numbers=[1])
    write_tar(written, root / "params.tar")
    return (root / "params.tar").read_bytes()


def homodimer(testdata):
    return assemble_complex([read_msa(testdata / "colabfold" / "6A5J.a3m")], copies=[2])


def test_each_version_has_its_names_crops_and_recycling():
    assert [configs.model_name(2, configs.MULTIMER_PRESETS[v]) for v in (1, 2, 3)] == \
        ["model_2_multimer", "model_2_multimer_v2", "model_2_multimer_v3"]
    for version, crops, tolerance in ((1, (252, 1152), 0.0), (2, (252, 1152), 0.0), (3, (508, 2048), 0.5)):
        preset = configs.MULTIMER_PRESETS[version]
        assert configs.network_msa_crops(preset, "full") == crops
        network = configs.network_config(preset, "full").model
        assert network.recycle_early_stop_tolerance == tolerance and network.global_config.multimer_mode
    with pytest.raises(ConfigError, match=r"^input.max_msa: 508:2048 is more than the 252:1152 MSA rows .* "
                                          r"multimer_v1 models read"):
        check_max_msa(JobSpec(max_msa=(508, 2048)), "multimer_v1", "full")


def test_a_complex_runs_v1_weights_in_their_own_layout(testdata, v1_tar, runners, tmp_path):
    weights = tmp_path / "weights"
    (weights / "params").mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(v1_tar)) as tar:
        tar.extract("params_model_1_multimer.npz", weights / "params")
    result = run_prediction(homodimer(testdata), tmp_path / "out", weights, model_config="reduced",
                            multimer_version=1, models=[1], num_recycle=0, relax="none", runners=runners)
    assert [model.model_name for model in result.models] == ["model_1_multimer"]
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["preset"] == "multimer_v1" and config["multimer_version"] == 1
    assert config["model_names"] == ["model_1_multimer"] and config["recycle_early_stop_tolerance"] == 0.0
    assert 0 <= result.best.iptm <= 1


def test_v1_is_provisioned_beside_the_weights_already_there(reduced_weights, v1_tar, monkeypatch, tmp_path):
    v3 = tmp_path / "v3.tar"
    write_tar([reduced_weights / "params" / "params_model_1_ptm.npz"], v3)
    with WeightsServer(v3.read_bytes()) as default, WeightsServer(v1_tar) as older:
        ensure_weights(tmp_path, default.url, models=["model_1_ptm"])
        before = (tmp_path / "params" / "params_model_1_ptm.npz").stat()
        monkeypatch.setenv("PARAMS_SHA256", "0" * 64)  # the default archive's pin: not v1's
        monkeypatch.setenv("PARAMS_URL_MULTIMER_V1", older.url)
        ensure_weights(tmp_path, models=["model_1_ptm", "model_1_multimer"])
        ensure_weights(tmp_path, models=["model_1_ptm", "model_1_multimer"])
        assert (default.downloads(), older.downloads()) == (1, 1), "each archive fetched once"
    params = tmp_path / "params"
    assert sorted(p.name for p in params.iterdir()) == ["MANIFEST.json", "params_model_1_multimer.npz",
                                                        "params_model_1_ptm.npz"]
    assert params.joinpath("params_model_1_ptm.npz").stat().st_ino == before.st_ino, "linked, not fetched again"
    manifest = json.loads((params / "MANIFEST.json").read_text())
    assert set(manifest["files"]) == {"params_model_1_ptm.npz", "params_model_1_multimer.npz"}
    assert [entry["files"] for entry in manifest["archives"]] == [["params_model_1_ptm.npz"],
                                                                  ["params_model_1_multimer.npz"]]
    assert manifest["archive_sha256"] == hashlib.sha256(v1_tar).hexdigest()


def test_v1_s_own_checksum_setting_is_checked(v1_tar, monkeypatch, tmp_path):
    with WeightsServer(v1_tar) as older:
        monkeypatch.setenv("PARAMS_URL_MULTIMER_V1", older.url)
        monkeypatch.setenv("PARAMS_SHA256_MULTIMER_V1", "0" * 64)
        with pytest.raises(ProvisionError, match=r"cannot provision AlphaFold-Multimer v1's weights into .* not the "
                                                 r"expected 0{64} \(PARAMS_SHA256_MULTIMER_V1\)"):
            ensure_weights(tmp_path, models=["model_1_multimer"])


def test_a_worker_fetches_v1_when_a_job_first_asks_for_it(testdata, reduced_weights, v1_tar, runners, monkeypatch,
                                                          tmp_path):
    volume = tmp_path / "volume"
    shutil.copytree(reduced_weights, volume)  # weights put there by hand: no manifest
    monkeypatch.setenv("PARAM_DIR", str(volume))
    monkeypatch.setenv("ALPHAFOLD_MSA_MODEL_CONFIG", "reduced")
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    job = {"msa": homodimer(testdata).to_colabfold_a3m(), "multimer_version": 1, "models": [1], "num_recycle": 0,
           "relax": "none"}
    with WeightsServer(v1_tar) as older:
        monkeypatch.setenv("PARAMS_URL_MULTIMER_V1", older.url)
        first = handle_job({"id": "v1", "input": job})
        again = handle_job({"id": "v1-again", "input": job})
        assert older.downloads() == 1
    assert "error" not in first, first.get("error")
    assert first["model"] == again["model"] == "model_1_multimer"
    kept = sorted(p.name for p in (volume / "params").glob("*.npz"))
    assert kept == sorted([p.name for p in (reduced_weights / "params").glob("*.npz")]
                          + ["params_model_1_multimer.npz"]), "the weights already there are kept"


def test_adding_v1_keeps_every_file_of_the_user_s_and_resumes_only_its_own_download(v1_tar, monkeypatch,
                                                                                    tmp_path):
    params = tmp_path / "params"
    params.mkdir()
    elsewhere = tmp_path / "elsewhere.npz"
    elsewhere.write_bytes(b"the user's own weights")
    (params / "params_model_1_ptm.npz").symlink_to(elsewhere)
    (params / "NOTES.txt").write_text("mine")
    (tmp_path / ".download").mkdir()
    (tmp_path / ".download" / "alphafold_params_2022-03-02.tar.partial").write_bytes(b"half of v2")
    with WeightsServer(v1_tar) as older:
        monkeypatch.setenv("PARAMS_URL_MULTIMER_V1", older.url)
        ensure_weights(tmp_path, models=["model_1_multimer"])
        assert [request["range"] for request in older.requests] == [None], "v2's partial download is not v1's"
    assert sorted(p.name for p in params.iterdir()) == ["MANIFEST.json", "NOTES.txt", "params_model_1_multimer.npz",
                                                        "params_model_1_ptm.npz"]
    assert (params / "params_model_1_ptm.npz").is_symlink() and (params / "NOTES.txt").read_text() == "mine"
    assert (tmp_path / ".download" / "alphafold_params_2022-03-02.tar.partial").read_bytes() == b"half of v2"


def test_a_weights_folder_left_aside_by_a_killed_swap_is_put_back(reduced_weights, v1_tar, monkeypatch, tmp_path):
    aside = tmp_path / ".params.old-4242"
    aside.mkdir()
    shutil.copy(reduced_weights / "params" / "params_model_1_ptm.npz", aside)
    with WeightsServer(v1_tar) as older:
        monkeypatch.setenv("PARAMS_URL_MULTIMER_V1", older.url)
        ensure_weights(tmp_path, models=["model_1_multimer"])
    assert sorted(p.name for p in (tmp_path / "params").glob("*.npz")) == ["params_model_1_multimer.npz",
                                                                          "params_model_1_ptm.npz"]
    assert not aside.exists()
