"""Generated weights use the official layout and load through the official loader; errors are clear."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
from conftest import REPO

from alphafold_msa.errors import EXIT_WEIGHTS, WeightsError
from alphafold_msa.model.config import network_config
from alphafold_msa.model.provision import ProvisionError, ensure_weights
from alphafold_msa.model.weights import check_present, load_params, without_templates
from alphafold_msa.testing.make_weights import main as make_weights_main


def test_layout_matches_official_files(reduced_weights):
    from alphafold.model import data

    files = sorted(p.name for p in (reduced_weights / "params").glob("*.npz"))
    assert files == ["params_model_1.npz", "params_model_1_multimer_v3.npz", "params_model_1_ptm.npz",
                     "params_model_2_multimer_v3.npz", "params_model_2_ptm.npz"]
    with np.load(reduced_weights / "params" / "params_model_1_ptm.npz") as npz:
        keys = list(npz.keys())
        assert all("//" in k and k.startswith("alphafold/alphafold_iteration/") for k in keys)
        assert any("template_embedding" in k for k in keys), "model 1 carries template modules, as officially"
        assert any("triangle_multiplication_incoming/left_projection" in k for k in keys), "unfused, as officially"
        assert any("predicted_aligned_error_head" in k for k in keys)
    params = data.get_model_haiku_params("model_1_ptm", str(reduced_weights))
    evoformer = "alphafold/alphafold_iteration/evoformer/evoformer_iteration"
    assert f"{evoformer}/triangle_multiplication_incoming/projection" in params
    with np.load(reduced_weights / "params" / "params_model_1_multimer_v3.npz") as npz:
        keys = list(npz.keys())
        assert any("template_embedding" in k for k in keys), "multimer models carry template modules"
        evoformer = [k for k in keys if "evoformer_iteration/triangle_multiplication_incoming/" in k]
        assert any("/projection//" in k for k in evoformer), "fused, as officially"
        assert not any("left_projection" in k for k in evoformer)


def test_generation_is_deterministic_by_seed_and_writes_official_tar(tmp_path):
    digests = []
    for run in ("a", "b", "c"):
        seed = "7" if run != "c" else "8"
        args = [str(tmp_path / run), "--config", "reduced", "--seed", seed, "--preset", "monomer_ptm", "--models", "3"]
        if run == "a":
            args += ["--tar", str(tmp_path / "params.tar")]
        assert make_weights_main(args) == 0
        with np.load(tmp_path / run / "params" / "params_model_3_ptm.npz") as npz:
            digests.append(hashlib.sha256(b"".join(npz[k].tobytes() for k in sorted(npz.keys()))).hexdigest())
    assert digests[0] == digests[1] != digests[2]
    with tarfile.open(tmp_path / "params.tar") as archive:
        assert sorted(archive.getnames()) == ["LICENSE", "params_model_3_ptm.npz"]


def test_missing_weights_list_files_and_the_download(tmp_path):
    with pytest.raises(WeightsError) as caught:
        check_present(tmp_path, ["model_1_ptm", "model_2_ptm"])
    message = str(caught.value)
    assert str(tmp_path / "params") in message
    assert "params_model_1_ptm.npz, params_model_2_ptm.npz" in message
    assert "alphafold_params_2022-12-06.tar" in message


def test_weights_that_do_not_fit_the_config_are_named(reduced_weights):
    with pytest.raises(WeightsError,
                       match=r"2 Evoformer and 1 extra-MSA blocks do not fit the 'full' model config \(48 and 4\)"):
        load_params(reduced_weights, "model_1_ptm", network_config("monomer_ptm", "full"), "full")


def test_damaged_parameter_file(reduced_weights, tmp_path):
    (tmp_path / "params").mkdir()
    source = reduced_weights / "params" / "params_model_2_ptm.npz"
    (tmp_path / "params" / "params_model_2_ptm.npz").write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    with pytest.raises(WeightsError, match="damaged or incomplete"):
        load_params(tmp_path, "model_2_ptm", network_config("monomer_ptm", "reduced"), "reduced")


def test_template_modules_are_loaded_and_dropped_only_for_the_template_free_network(reduced_weights):
    params = load_params(reduced_weights, "model_1_ptm", network_config("monomer_ptm", "reduced"), "reduced")
    assert [scope for scope in params if "/template_" in scope]
    plain = without_templates(params)
    assert plain and not [scope for scope in plain if "/template_" in scope]
    shutil.rmtree(reduced_weights / "unused", ignore_errors=True)


def test_a_mirror_that_trickles_its_headers_is_cut_off_at_the_deadline(tmp_path, monkeypatch):
    from weights_server import WeightsServer

    monkeypatch.setenv("ALPHAFOLD_MSA_WEIGHTS_DEADLINE_S", "2")
    monkeypatch.setenv("ALPHAFOLD_MSA_DOWNLOAD_RETRIES", "2")
    with WeightsServer(b"never reached") as server:
        server.trickle_headers_s = 0.4  # about 50 s for the headers, each byte well within a read timeout
        started = time.monotonic()
        with pytest.raises(ProvisionError, match=r"within its time limit \(ALPHAFOLD_MSA_WEIGHTS_DEADLINE_S\)"):
            ensure_weights(tmp_path, server.url, models=["model_1_ptm"])
        elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed
    assert server.downloads() == 1, "a download cut off at its deadline is not tried again"


def test_provisioning_that_fails_exits_with_the_weights_code(tmp_path):
    """`python -m alphafold_msa.model.provision` (start.sh's first step): an archive the mirror does not have,
    and a weights folder that cannot be made, each end in one line and the weights' exit code."""
    from weights_server import WeightsServer

    def provision(param_dir: str, url: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "alphafold_msa.model.provision", "--param-dir", param_dir],
                              cwd=REPO, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PARAMS_URL": url})

    with WeightsServer(b"") as server:
        missing = provision(str(tmp_path / "volume"), server.url.replace("params.tar", "missing.tar"))
        unwritable = provision("/dev/null/weights", server.url)
    assert missing.returncode == EXIT_WEIGHTS and "HTTP 404" in missing.stderr, missing.stderr
    assert unwritable.returncode == EXIT_WEIGHTS and "cannot provision AlphaFold weights" in unwritable.stderr
    assert "Traceback" not in missing.stderr + unwritable.stderr
