"""Kernel choice: which path runs on which device, the self-check's verdict, its cache and fallback."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from alphafold_msa import settings
from alphafold_msa.errors import ConfigError
from alphafold_msa.model import kernel_cases, kernel_check, kernels
from alphafold_msa.model.kernels import Device

CPU = Device("cpu", "cpu")
H100 = Device("gpu", "NVIDIA H100 80GB HBM3", 90)
T4 = Device("gpu", "Tesla T4", 75)
VERSIONS = {"jax": "0.11.2", "jaxlib": "0.11.2", "alphafold-colabfold": "2.3.27", "colabfold-kernels": "0.9.0"}


@pytest.mark.parametrize("requested, device, passed, expected", [
    ("auto", CPU, None, "xla"),
    ("xla", H100, None, "xla"),
    ("auto", H100, True, "pallas"),
    ("auto", T4, True, "cuda_legacy"),
    ("auto", H100, False, "xla"),
    ("auto", H100, None, "xla"),
    ("pallas", H100, None, "pallas"),
    ("cuda_legacy", H100, None, "cuda_legacy"),
    ("cuda_legacy", T4, None, "cuda_legacy"),
])
def test_choice_by_device_and_verdict(requested, device, passed, expected):
    assert kernels.choose(requested, device, passed) == expected


def test_only_auto_on_a_gpu_needs_a_check():
    assert kernels.needs_check("auto", H100) == "pallas"
    assert kernels.needs_check("auto", T4) == "cuda_legacy"
    assert kernels.needs_check("auto", CPU) is None
    assert kernels.needs_check("pallas", H100) is None
    assert kernels.needs_check("xla", H100) is None


def test_fused_kernels_a_device_cannot_run_are_refused():
    with pytest.raises(ConfigError, match="kernels 'pallas' need an NVIDIA GPU; this worker runs jax on cpu"):
        kernels.choose("pallas", CPU)
    with pytest.raises(ConfigError,
                       match="kernels 'pallas' need compute capability 8.0 or newer; this Tesla T4 has 75"):
        kernels.choose("pallas", T4)


def test_fork_settings_and_compile_options():
    assert kernels.global_config_settings("xla", H100) == {"use_pallas": False}
    assert kernels.global_config_settings("pallas", H100) == {
        "use_pallas": True, "kernel_backend": "pallas", "compute_capability": 90}
    assert kernels.jit_kwargs("tuned", CPU) == {}
    assert "xla_gpu_override_gemm_autotuner" in kernels.jit_kwargs("tuned", H100)["compiler_options"]
    assert kernels.jit_kwargs("fast", H100) == {"compiler_options": {"xla_gpu_enable_triton_gemm": False}}
    assert kernels.jit_kwargs("full", H100) == {}


def test_choices_from_the_environment(monkeypatch):
    monkeypatch.delenv(settings.KERNELS.name, raising=False)
    monkeypatch.delenv(settings.COMPILE_MODE.name, raising=False)
    assert kernels.resolve_kernels(None) == "auto" and kernels.resolve_compile_mode(None) == "tuned"
    monkeypatch.setenv(settings.KERNELS.name, "xla")
    monkeypatch.setenv(settings.COMPILE_MODE.name, "fast")
    assert kernels.resolve_kernels(None) == "xla" and kernels.resolve_compile_mode(None) == "fast"
    assert kernels.resolve_kernels("pallas") == "pallas"
    with pytest.raises(ConfigError, match="kernels must be one of auto, pallas, cuda_legacy, xla, got 'triton'"):
        kernels.resolve_kernels("triton")
    monkeypatch.setenv(settings.COMPILE_MODE.name, "fastest")
    with pytest.raises(ConfigError, match="ALPHAFOLD_MSA_COMPILE_MODE must be one of fast, tuned, full"):
        kernels.resolve_compile_mode(None)


def output(plddt_shift: float = 0.0, move: float = 0.0, length: int = 10) -> dict:
    """A model output of `length` residues: pLDDT 70 (+ shift), PAE 5, Cα on a line (moved by `move` Å)."""
    positions = np.zeros((length, 37, 3))
    positions[:, 1, 0] = np.arange(length) * 3.8 + move
    return {"plddt": np.full(length, 70.0 + plddt_shift), "predicted_aligned_error": np.full((length, length), 5.0),
            "structure_module": {"final_atom_positions": positions}}


class Check:
    """A self-check stand-in for the GPU network: counts its runs, returns prepared outputs or raises."""

    def __init__(self, outputs: dict | None = None, error: Exception | None = None):
        self.outputs, self.error, self.runs = outputs, error, []

    def __call__(self, path: str) -> dict:
        self.runs.append(path)
        if self.error:
            raise self.error
        return self.outputs


AGREEING = {"fused": output(0.3, 0.1), "xla": output(0.2, 0.1), "reference": output()}


def test_a_passing_check_selects_the_fused_path_and_is_cached(tmp_path):
    check = Check(AGREEING)
    path, record = kernel_check.select("auto", H100, tmp_path, check, driver="580.159.04", versions=VERSIONS)
    assert (path, record["path"], record["check_cached"], check.runs) == ("pallas", "pallas", False, ["pallas"])
    assert record["check"]["passed"] and record["check"]["distances_to_float32"]["fused"]["ca_rmsd"] == 0.1
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("NVIDIA-H100-80GB-HBM3-pallas-")
    assert json.loads(files[0].read_text())["identity"]["driver"] == "580.159.04"

    later = Check(error=AssertionError("a cached verdict must not run the check again"))
    path, record = kernel_check.select("auto", H100, tmp_path, later, driver="580.159.04", versions=VERSIONS)
    assert (path, record["check_cached"], later.runs) == ("pallas", True, [])


def test_a_new_driver_version_or_network_checks_again(tmp_path):
    kernel_check.select("auto", H100, tmp_path, Check(AGREEING), driver="580.159.04", versions=VERSIONS)
    for driver, versions, network in (("590.1", VERSIONS, "monomer_ptm"),
                                      ("580.159.04", {**VERSIONS, "colabfold-kernels": "0.9.1"}, "monomer_ptm"),
                                      ("580.159.04", VERSIONS, "multimer")):
        check = Check(AGREEING)
        kernel_check.select("auto", H100, tmp_path, check, network, driver=driver, versions=versions)
        assert check.runs == ["pallas"]
    assert len(list(tmp_path.iterdir())) == 4


@pytest.mark.parametrize("fused, problem", [
    ({"error": "RuntimeError: Triton compilation failed"}, "RuntimeError: Triton compilation failed"),
    (output(0.3, 5.0), "ca_rmsd=5.0 > 0.45"),
    (output(4.0, 0.1), "plddt_mean_abs=4.0 > 0.9"),
    (output(float("nan")), "fused output is not finite"),
])
def test_a_failing_check_falls_back_to_xla_with_one_warning(tmp_path, caplog, fused, problem):
    with caplog.at_level(logging.WARNING, logger="alphafold_msa.model.kernel_check"):
        path, record = kernel_check.select("auto", H100, tmp_path, Check({**AGREEING, "fused": fused}),
                                           driver="580", versions=VERSIONS)
    assert path == "xla" and record["path"] == "xla" and not record["check"]["passed"]
    assert problem in record["check"]["problems"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "using xla" in warnings[0] and problem in warnings[0]
    # The failing verdict is kept: the next worker of this kind goes straight to xla.
    again = Check(AGREEING)
    assert kernel_check.select("auto", H100, tmp_path, again, driver="580", versions=VERSIONS)[0] == "xla"
    assert again.runs == []


@pytest.mark.parametrize("broken, message", [
    (Check(error=RuntimeError("out of memory in the float32 reference")), "RuntimeError: out of memory"),
    (Check({**AGREEING, "xla": output(float("nan"))}), "ValueError: the plain-XLA xla output is not finite"),
])
def test_a_check_that_could_not_run_is_not_kept(tmp_path, caplog, broken, message):
    """An error outside the fused run (the plain-XLA runs, loading weights) says nothing about the kernels."""
    with caplog.at_level(logging.WARNING, logger="alphafold_msa.model.kernel_check"):
        path, record = kernel_check.select("auto", H100, tmp_path, broken, driver="580", versions=VERSIONS)
    assert path == "xla" and record["check"]["kept"] is False
    assert f"the check could not run: {message}" in caplog.text
    assert not list(tmp_path.iterdir()), "neither a verdict nor a pending marker is left"
    later = Check(AGREEING)
    assert kernel_check.select("auto", H100, tmp_path, later, driver="580", versions=VERSIONS)[0] == "pallas"


# A worker process whose check dies: XLA aborts the process on an illegal memory access.
CRASHING_WORKER = """
import json, os, signal, sys
from pathlib import Path
from alphafold_msa.model import kernel_check
from alphafold_msa.model.kernels import Device
kernel_check.select("auto", Device("gpu", "NVIDIA H100 80GB HBM3", 90), Path(sys.argv[1]),
                    lambda path: os.kill(os.getpid(), signal.SIGKILL), driver="580", versions=json.loads(sys.argv[2]))
"""


def crash_in_the_check(cache_dir) -> None:
    completed = subprocess.run([sys.executable, "-c", CRASHING_WORKER, str(cache_dir), json.dumps(VERSIONS)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == -signal.SIGKILL, completed.stderr


def test_a_check_whose_process_died_is_run_once_more(tmp_path):
    """A process may die in the check for reasons of its own: the next worker checks again, however long
    after the death it starts."""
    import os
    import time

    crash_in_the_check(tmp_path)
    (marker,) = tmp_path.iterdir()
    assert marker.suffix == ".pending", "the dead check left its marker"
    a_day_ago = time.time() - 24 * 3600
    os.utime(marker, (a_day_ago, a_day_ago))
    again = Check(AGREEING)
    path, record = kernel_check.select("auto", H100, tmp_path, again, driver="580", versions=VERSIONS)
    assert (path, again.runs, record["check"]["passed"]) == ("pallas", ["pallas"], True)
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]


def test_a_check_that_kills_its_process_twice_counts_as_failed_and_is_kept(tmp_path):
    crash_in_the_check(tmp_path)
    crash_in_the_check(tmp_path)  # the second worker ran the check once more, and died too
    refuse = Check(error=AssertionError("the fused kernels killed two checks: no third"))
    path, record = kernel_check.select("auto", H100, tmp_path, refuse, driver="580", versions=VERSIONS)
    assert path == "xla" and refuse.runs == [] and "2 checks never finished" in record["check"]["problems"][0]
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]
    later = Check(error=AssertionError("a kept verdict is not checked again"))
    assert kernel_check.select("auto", H100, tmp_path, later, driver="580", versions=VERSIONS)[0] == "xla"


def test_two_workers_of_one_kind_never_check_at_once(tmp_path, caplog):
    """The second worker waits for the first one's verdict instead of running the check beside it."""
    import time

    caplog.set_level(logging.INFO, logger="alphafold_msa.model.kernel_check")
    runs, results = [], {}

    def second_waits() -> bool:
        return any("waiting for its verdict" in record.getMessage() for record in caplog.records)

    def check(path: str) -> dict:
        runs.append(threading.current_thread().name)
        if len(runs) == 1:  # the first worker's check: the second worker starts meanwhile
            second.start()
            while second.is_alive() and not (second_waits() or len(runs) > 1):
                time.sleep(0.05)
        return AGREEING

    def worker(name: str) -> None:
        results[name] = kernel_check.select("auto", H100, tmp_path, check, driver="580", versions=VERSIONS)

    second = threading.Thread(target=worker, args=("second",), name="second")
    worker("first")
    second.join()
    assert runs == ["MainThread"], "one check ran, in the first worker"
    assert results["first"][0] == results["second"][0] == "pallas"
    assert results["second"][1]["check_cached"] is True


def test_the_bar_follows_bfloat16_noise(tmp_path):
    """With noisy (random) weights plain bfloat16 is far from float32 too; the fused path may be as far."""
    noisy = {"fused": output(0.3, 130.0), "xla": output(0.35, 137.0), "reference": output()}
    assert kernel_check.select("auto", H100, tmp_path, Check(noisy), driver="580", versions=VERSIONS)[0] == "pallas"


def test_an_unwritable_cache_costs_only_a_recheck(tmp_path, caplog):
    blocker = tmp_path / "kernel-check"
    blocker.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING):
        path, _ = kernel_check.select("auto", H100, blocker, Check(AGREEING), driver="580", versions=VERSIONS)
    assert path == "pallas" and "could not keep the kernel check's verdict" in caplog.text


def test_a_corrupt_cached_verdict_is_checked_again(tmp_path):
    kernel_check.select("auto", H100, tmp_path, Check(AGREEING), driver="580", versions=VERSIONS)
    cached = next(tmp_path.iterdir())
    cached.write_text("{not json")
    check = Check(AGREEING)
    assert kernel_check.select("auto", H100, tmp_path, check, driver="580", versions=VERSIONS)[0] == "pallas"
    assert check.runs == ["pallas"]


def test_no_check_on_a_cpu_or_for_an_explicit_choice(tmp_path):
    refuse = Check(error=AssertionError("no check expected"))
    assert kernel_check.select("auto", CPU, tmp_path, refuse)[0] == "xla"
    assert kernel_check.select("pallas", H100, tmp_path, refuse, driver="580", versions=VERSIONS)[0] == "pallas"
    assert refuse.runs == [] and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_the_self_check_runs_the_real_network_on_a_cpu(reduced_weights):
    """The runner's own check input through XLA in bfloat16 and float32: finite, 40 residues, judged."""
    from alphafold_msa.model.runner import ModelRunner

    runner = ModelRunner(reduced_weights, "reduced", kernels="xla")
    outputs = runner.self_check("xla")
    assert set(outputs) == {"fused", "xla", "reference", "modules", "batched"}
    assert all(len(outputs[label]["plddt"]) == kernel_check.CHECK_LENGTH for label in ("fused", "xla", "batched"))
    distances, problems = kernel_check.judge(outputs)
    assert problems == [] and distances["xla"]["plddt_mean_abs"] > 0, "bfloat16 differs from float32"
    assert not any(key.endswith("-float32") for key in runner._networks), "the float32 network is dropped"
    verdict = kernel_check.run_and_judge("xla", lambda path: outputs)
    assert verdict["passed"] and verdict["batched"]["passed"], verdict
    assert set(verdict["modules_relative_to_float32"]) == set(kernel_cases.CASES)
    assert runner.counters["predictions"] == 0, "the check's runs are not the jobs' predictions"


@pytest.mark.slow
@pytest.mark.parametrize("case, constant, value", [("template_pointwise_attention", "_TEMPLATE_MASK", (1.0,) * 4),
                                                   ("extra_msa_row_attention", "_PADDED_RESIDUES", 0)])
def test_a_module_case_finds_a_kernel_that_reads_a_mask_wrong(monkeypatch, case, constant, value):
    """Each module case fails an output computed as if the masked keys (absent templates, padded residues) were
    there: what ColabFold 1.6.2's fused kernels did."""
    from alphafold_msa.model import config as configs

    module_config = configs.network_config("monomer_ptm", "reduced", templates=True).model
    plain = {"use_pallas": False}

    def run() -> dict:
        return kernel_cases.run_cases(module_config.global_config, module_config.embeddings_and_evoformer,
                                      {"fused": {**plain, "bfloat16": True}, "xla": {**plain, "bfloat16": True},
                                       "reference": {**plain, "bfloat16": False}})

    right = run()
    distances, problems = kernel_cases.judge_cases(right)
    assert problems == [] and distances[case]["xla"]["mean_rel"] > 0, "bfloat16 differs from float32"
    monkeypatch.setattr(kernel_cases, constant, value)
    unmasked = run()[case]["reference"]
    wrong = {**right, case: {**right[case], "fused": unmasked}}
    _, problems = kernel_cases.judge_cases(wrong)
    assert problems and all(problem.startswith(f"{case}: ") for problem in problems), problems
    broken = {**right, case: {**right[case], "fused": {"error": "RuntimeError: no kernel"}}}
    assert kernel_cases.judge_cases(broken)[1] == [f"{case}: RuntimeError: no kernel"]


@pytest.fixture
def on_an_h100(monkeypatch):
    """The runner believes it runs on an H100 (its networks are built, never compiled, in these tests)."""
    import itertools

    drivers = itertools.count()
    monkeypatch.setattr(kernels, "current_device", lambda: H100)
    monkeypatch.setattr(kernel_check, "driver_version", lambda: f"test-{next(drivers)}-{id(monkeypatch)}")


@pytest.mark.parametrize("fused, expected", [(output(0.3, 0.1), "pallas"), ({"error": "RuntimeError: boom"}, "xla")])
def test_the_runner_keeps_the_network_of_the_path_chosen(reduced_weights, on_an_h100, fused, expected):
    from alphafold_msa.model.runner import ModelRunner

    runner = ModelRunner(reduced_weights, "reduced", kernels="auto")
    checked = []

    def self_check(path: str) -> dict:
        checked.append(path)
        runner.network(path), runner.network("xla")  # what the real check builds
        return {**AGREEING, "fused": fused}

    runner.self_check = self_check
    assert runner.kernels == expected and checked == ["pallas"]
    assert list(runner._networks) == [expected]
    use_pallas = runner.network(expected).config.model.global_config.use_pallas
    assert use_pallas is (expected == "pallas")
    assert runner.kernel_record["requested"] == "auto" and runner.kernel_record["device"] == H100.name


def test_a_float32_runner_never_checks_or_uses_fused_kernels(reduced_weights, on_an_h100):
    from alphafold_msa.model.runner import ModelRunner

    runner = ModelRunner(reduced_weights, "reduced", bfloat16=False, kernels="auto")
    runner.self_check = Check(error=AssertionError("no check for a float32 network"))
    assert runner.kernels == "xla" and "check" not in runner.kernel_record


def test_fused_kernels_need_the_bfloat16_network(reduced_weights):
    from alphafold_msa.model.runner import ModelRunner

    with pytest.raises(ConfigError, match="kernels 'pallas' need the bfloat16 network"):
        ModelRunner(reduced_weights, "reduced", bfloat16=False, kernels="pallas")
