"""Sampling: dropout, AFsample2's column masking, many seeds with only the most confident kept, samples.tsv /
samples.json as the samples finish, every sample saved on request, and stop_at_score."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from alphafold_msa.errors import ConfigError, MsaError
from alphafold_msa.launcher.cli import main
from alphafold_msa.model.features import UNKNOWN_RESIDUE, build_features, mask_msa_columns
from alphafold_msa.model.speed import estimate_seconds
from alphafold_msa.msa import assemble_complex, from_sequences, read_msa
from alphafold_msa.msa.clusters import cluster_alignment, cluster_msa
from alphafold_msa.predict import run_prediction
from alphafold_msa.protocol.spec import JobSpec
from alphafold_msa.results.samples import recipe_of


def predict(testdata, reduced_weights, runners, folder, **fields):
    spec = JobSpec(models=(1,), num_recycle=0, relax="none", **fields)
    return run_prediction(testdata / "colabfold" / "6A5J.a3m", folder, reduced_weights, spec, model_config="reduced",
                          runners=runners)


def coordinates(result) -> np.ndarray:
    """The top model's atom lines' coordinates."""
    lines = [line for line in result.best.structures["pdb"].splitlines() if line.startswith("ATOM")]
    return np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])] for line in lines])


def test_dropout_samples_the_network_reproducibly_per_seed(testdata, reduced_weights, runners, tmp_path):
    plain = predict(testdata, reduced_weights, runners, tmp_path / "plain", random_seed=3)
    first = predict(testdata, reduced_weights, runners, tmp_path / "a", random_seed=3, dropout=True)
    again = predict(testdata, reduced_weights, runners, tmp_path / "b", random_seed=3, dropout=True)
    other = predict(testdata, reduced_weights, runners, tmp_path / "c", random_seed=4, dropout=True)
    np.testing.assert_array_equal(coordinates(first), coordinates(again))
    assert not np.array_equal(coordinates(first), coordinates(plain)), "dropout changes the prediction"
    assert not np.array_equal(coordinates(first), coordinates(other)), "another seed, other dropout masks"
    assert runners.get(reduced_weights, "reduced", "monomer_ptm").network("xla", dropout=True).config.model \
        .global_config.eval_dropout is True


def test_column_masking_masks_the_fraction_asked_for_never_the_query(testdata):
    raw = build_features(read_msa(testdata / "colabfold" / "6A5J.a3m"))
    masked = mask_msa_columns(raw, 0.25, seed=7)
    columns = raw["msa"].shape[1]
    changed = np.flatnonzero((masked["msa"][1:] == UNKNOWN_RESIDUE).all(axis=0))
    assert len(changed) == round(0.25 * columns)
    np.testing.assert_array_equal(masked["msa"][0], raw["msa"][0])
    np.testing.assert_array_equal(mask_msa_columns(raw, 0.25, seed=7)["msa"], masked["msa"])
    assert not np.array_equal(mask_msa_columns(raw, 0.25, seed=8)["msa"], masked["msa"])
    assert mask_msa_columns(raw, 0.0, seed=7) is raw
    assert masked["msa"] is not raw["msa"] and (raw["msa"][1:, changed] != UNKNOWN_RESIDUE).any(), "raw untouched"


def test_many_seeds_keep_the_most_confident_and_record_every_sample(testdata, reduced_weights, runners, tmp_path):
    result = predict(testdata, reduced_weights, runners, tmp_path, num_seeds=7, keep_top=3, msa_mask_fraction=0.1)
    rows = list(csv.DictReader((tmp_path / "samples.tsv").open(), delimiter="\t"))
    assert [row["seed"] for row in rows] == [str(seed) for seed in range(7)]
    assert {row["msa_mask_fraction"] for row in rows} == {"0.1"} and {row["dropout"] for row in rows} == {"false"}
    record = json.loads((tmp_path / "samples.json").read_text())
    assert len(record["samples"]) == 7 and record["stopped_early"] is None
    confidence = {row["sample"]: float(row["ranking_confidence"]) for row in rows}
    kept = [f"{m.model_name}_seed_{m.seed:03d}" for m in result.models]
    assert sorted(kept) == record["kept"] and len(kept) == 3
    assert min(confidence[name] for name in kept) >= max(confidence[name] for name in confidence if name not in kept)
    assert [confidence[name] for name in kept] == sorted((confidence[name] for name in kept), reverse=True)
    assert sorted(p.name for p in tmp_path.glob("ranked_*.pdb")) == ["ranked_0.pdb", "ranked_1.pdb", "ranked_2.pdb"]
    assert not list(tmp_path.glob("sample_*"))
    # every sample clustered by structure (not only the kept ones), the states named in the summary
    clusters = json.loads((tmp_path / "clusters.json").read_text())
    members = sorted(member for cluster in clusters["clusters"] for member in cluster["members"])
    assert members == sorted(confidence) and (tmp_path / "ensemble.png").is_file()
    assert "structural state" in json.loads((tmp_path / "summary.json").read_text())["ensemble"]


def test_save_all_writes_every_sample_and_stop_at_score_stops(testdata, reduced_weights, runners, tmp_path):
    predict(testdata, reduced_weights, runners, tmp_path, num_seeds=3, save_all=True, stop_at_score=0)
    record = json.loads((tmp_path / "samples.json").read_text())
    assert len(record["samples"]) == 1 and record["stopped_early"].startswith("stopped after 1 of 3 samples")
    assert [p.name for p in tmp_path.glob("sample_*")] == ["sample_model_1_ptm_seed_000.pdb"]
    log = (tmp_path / "log.txt").read_text()
    assert "stop_at_score 0)" in log


@pytest.mark.parametrize("flags, message", [
    (["--msa-mask-fraction", "1.2"], "--msa-mask-fraction: 1.2 is greater than or equal to the maximum of 1"),
    (["--num-seeds", "0"], "--num-seeds: 0 is less than the minimum of 1"),
    (["--num-seeds", "1001"], "--num-seeds: 1001 is greater than the maximum of 1000"),
    (["--keep-top", "0"], "--keep-top: 0 is less than the minimum of 1"),
    (["--stop-at-score", "101"], "--stop-at-score: 101.0 is greater than the maximum of 100"),
    (["--multimer-version", "4"], "--multimer-version: 4 is not one of [1, 2, 3]"),
])
def test_bad_sampling_flags_are_one_line_before_anything_is_read(tmp_path, capsys, flags, message):
    code = main(["--msa", str(tmp_path / "absent.a3m"), "--output", str(tmp_path / "x.pdb"), "--local", *flags])
    assert code == 2 and capsys.readouterr().err.strip() == f"error: {message}"


def test_a_local_sampling_run_from_the_command_line(testdata, reduced_weights, runners, tmp_path, capsys):
    code = main(["--local", "--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--output", str(tmp_path / "x.pdb"),
                 "--output-dir", str(tmp_path / "all"), "--param-dir", str(reduced_weights), "--model-config",
                 "reduced", "--models", "1", "--num-recycle", "0", "--num-seeds", "2", "--use-dropout",
                 "--keep-top", "1"], runners=runners)
    assert code == 0, capsys.readouterr().err
    config = json.loads((tmp_path / "all" / "config.json").read_text())
    assert config["dropout"] is True and config["keep_top"] == 1 and config["num_seeds"] == 2
    assert len((tmp_path / "all" / "samples.tsv").read_text().splitlines()) == 3


def test_more_kept_samples_than_the_job_memory_holds_are_refused_before_any_work(monkeypatch):
    from alphafold_msa.errors import ConfigError
    from alphafold_msa.predict import check_kept_memory

    monkeypatch.setenv("ALPHAFOLD_MSA_JOB_MEMORY_GB", "1")
    check_kept_memory(JobSpec(num_seeds=1000, keep_top=1000), 300)  # 0.96 GB: within
    with pytest.raises(ConfigError, match=r"^input.keep_top: keeping 1000 samples of 1000 residues would hold about "
                                          r"6.0 GB, more than this job's 1.0 GB \(ALPHAFOLD_MSA_JOB_MEMORY_GB\): keep "
                                          r"at most 166$"):
        check_kept_memory(JobSpec(num_seeds=1000, keep_top=1000), 1000)


def test_af_cluster_predicts_each_cluster_and_control_as_samples(testdata, reduced_weights, runners, tmp_path):
    """msa_clusters: AF-Cluster's clusters of fn3 (seeded by random_seed) and their controls, each alignment (query
    first) predicted and recorded as its own samples; the clusters and their alignments written beside them."""
    path = testdata / "pfam" / "fn3.sto"
    clustering = cluster_msa(read_msa(path), seed=0)
    spec = JobSpec(models=(1,), num_recycle=0, relax="none", msa_clusters=True, keep_top=3)
    result = run_prediction(path, tmp_path, reduced_weights, spec, model_config="reduced", runners=runners)
    names = [group.name for group in (*clustering.clusters, *clustering.controls)]
    assert len(clustering.clusters) >= 3 and names[0] == "000" and names[-1] == "U10-009"
    rows = list(csv.DictReader((tmp_path / "samples.tsv").open(), delimiter="\t"))
    assert [row["msa_cluster"] for row in rows] == names
    assert [row["sample"] for row in rows] == [f"model_1_ptm_seed_000_msa_{name}" for name in names]
    # each alignment is its own input: the scores differ between alignments
    assert len({row["mean_plddt"] for row in rows}) > len(names) // 2
    record = json.loads((tmp_path / "msa_clusters.json").read_text())
    msa = read_msa(path)
    assert record["eps"] == clustering.eps and record["num_clusters"] == len(clustering.clusters)
    for written, cluster in zip(record["clusters"], clustering.clusters):
        assert written["members"] == [msa.names[row] for row in cluster.rows] and written["size"] == cluster.size
    for group in (*clustering.clusters, *clustering.controls):
        assert (tmp_path / f"msa_cluster_{group.name}.a3m").read_text() == cluster_alignment(msa, group).to_a3m()
    # the kept samples named by their alignment everywhere
    ranking = json.loads((tmp_path / "ranking.json").read_text())
    assert ranking["order"] == [model.key for model in result.models] and len(ranking["order"]) == 3
    assert all(key.startswith("model_1_ptm_seed_0_msa_") for key in ranking["order"])
    best = result.models[0]
    assert (tmp_path / f"rank_001_model_1_ptm_seed_000_msa_{best.msa_cluster}.pdb").is_file()
    assert best.scores["msa_cluster"] == best.msa_cluster
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["msa_clusters"]["sizes"] == [c.size for c in clustering.clusters]
    assert summary["best_model"] == best.key and "structural state" in summary["ensemble"]
    assert f"0. model_1_ptm seed 0 alignment {best.msa_cluster}: " in (tmp_path / "summary.txt").read_text()
    # every alignment's sample is compared, and the states whose representative was not kept are named
    states = json.loads((tmp_path / "clusters.json").read_text())
    assert states["samples_compared"] == len(names)
    unsaved = [c["representative"] for c in states["clusters"] if c["representative"] not in record_kept(tmp_path)]
    assert ("representatives were not kept" in summary["ensemble"]) == bool(unsaved)
    assert "WaymentSteele2024" in (tmp_path / "cite.bibtex").read_text()
    assert json.loads((tmp_path / "config.json").read_text())["msa_clusters"] is True


def record_kept(folder) -> list[str]:
    return json.loads((folder / "samples.json").read_text())["kept"]


def test_af_cluster_refuses_a_shallow_alignment_and_a_complex_naming_the_field(testdata, reduced_weights, tmp_path):
    spec = JobSpec(models=(1,), relax="none", msa_clusters=True)
    with pytest.raises(MsaError, match=r"^input\.msa_clusters: .*globins4.sto: too shallow to cluster: 3 of its 3"):
        run_prediction(testdata / "pfam" / "globins4.sto", tmp_path / "a", reduced_weights, spec,
                       model_config="reduced")
    dimer = assemble_complex([from_sequences(["ACDEFGHIKLMNPQRSTVWY"] * 30)], [2])
    with pytest.raises(ConfigError, match=r"^input\.msa_clusters: AF-Cluster clusters a single chain's alignment; "
                                          r"this input is a complex of 2 chains"):
        run_prediction(dimer, tmp_path / "b", reduced_weights, spec, model_config="reduced")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_check_prints_af_cluster_s_clusters_and_the_samples_gpu_time(testdata, capsys):
    path = testdata / "pfam" / "fn3.sto"
    assert main(["--check", "--msa", str(path), "--msa-clusters", "--models", "1,2", "--num-seeds", "3"]) == 0
    line = json.loads(capsys.readouterr().out)
    clustering = cluster_msa(read_msa(path), seed=0)
    clusters = line["msa_clusters"]
    assert clusters["sizes"] == [cluster.size for cluster in clustering.clusters] and clusters["eps"] == clustering.eps
    assert clusters["num_controls"] == 10 and len(clusters["query_identity"]) == clusters["num_clusters"]
    assert min(clusters["query_identity"]) <= clusters["mean_query_identity"] <= max(clusters["query_identity"])
    samples = (len(clustering.clusters) + 10) * 2 * 3
    assert line["samples"] == samples and line["estimated_gpu_s"] == round(estimate_seconds(86, samples))


# An endpoint on this machine's discard port: the refusals come before any request.
REMOTE = ["--endpointId", "e", "--api-key", "k", "--api-url", "http://127.0.0.1:9"]


def test_af_cluster_on_a_shallow_alignment_or_a_complex_is_refused_before_a_job(testdata, tmp_path, capsys):
    shallow = testdata / "pfam" / "globins4.sto"
    code = main(["--msa", str(shallow), "--output", str(tmp_path / "x.pdb"), *REMOTE, "--msa-clusters"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith(f"error: --msa-clusters: {shallow}: too shallow to cluster: 3 of its 3")
    a3m = testdata / "colabfold" / "6A5J.a3m"
    code = main(["--msa", str(a3m), "--copies", "2", "--output", str(tmp_path / "x.pdb"), *REMOTE, "--msa-clusters"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "--msa-clusters: AF-Cluster clusters a single chain's alignment" in error
    assert not list(tmp_path.iterdir())


def test_the_ensemble_holds_the_most_confident_samples_c_alpha_atoms_only(tmp_path):
    """Past `compare` samples, the least confident are named, not held: memory stays flat in the sample count."""
    from types import SimpleNamespace

    from alphafold_msa.results.samples import SampleLog
    from alphafold_msa.results.structures import ModelPrediction

    log = SampleLog(tmp_path, recipe_of(None, False, 0.0), keep=1, compare=3)
    rng = np.random.default_rng(0)
    for seed, plddt in enumerate([50.0, 90.0, 70.0, 90.0, 60.0]):
        atoms = rng.normal(size=(12, 37, 3)).astype(np.float32)
        log.add(ModelPrediction("model_1_ptm", seed, 0, np.full(12, plddt, np.float32), None, None,
                                SimpleNamespace(atom_positions=atoms), 1.0))
    compared, passed_over = log.ensemble()
    assert [sample.id for sample in compared] == ["model_1_ptm_seed_001", "model_1_ptm_seed_003",
                                                  "model_1_ptm_seed_002"]
    assert sorted(passed_over) == ["model_1_ptm_seed_000", "model_1_ptm_seed_004"]
    assert compared[0].ca.shape == (12, 3) and compared[0].ca.dtype == np.float32
    log.close()


def test_slices_of_a_job_s_samples_together_are_the_whole_job(testdata, reduced_weights, runners, tmp_path):
    """sample_slice: jobs of the same fields, each running a slice of the samples (numbered in the order one job runs
    them), record exactly the lines the whole job records, and the most confident of their kept samples are the
    whole job's."""
    spec = JobSpec(models=(1, 2), num_seeds=3, random_seed=5, dropout=True, keep_top=2, num_recycle=0, relax="none")

    def run(folder, **fields):
        return run_prediction(testdata / "colabfold" / "6A5J.a3m", folder, reduced_weights, spec.replace(**fields),
                              model_config="reduced", runners=runners)

    whole = run(tmp_path / "whole")
    slices = [(0, 2), (2, 5), (5, 6)]
    parts = [run(tmp_path / f"part{index}", sample_slice=bounds) for index, bounds in enumerate(slices)]

    def lines(folder):
        return [{k: v for k, v in row.items() if k != "seconds"}
                for row in csv.DictReader((folder / "samples.tsv").open(), delimiter="\t")]

    joined = [line for index in range(3) for line in lines(tmp_path / f"part{index}")]
    assert joined == lines(tmp_path / "whole") and len(joined) == 6
    assert [line["sample"][:20] for line in joined[:2]] == ["model_1_ptm_seed_005", "model_2_ptm_seed_005"]
    best = sorted((model for part in parts for model in part.models), key=lambda m: -m.mean_plddt)[:2]
    assert [m.key for m in best] == [m.key for m in whole.models]
    assert best[0].structures["pdb"] == whole.best.structures["pdb"]


def test_a_slice_past_the_job_s_samples_is_refused(testdata, reduced_weights, tmp_path):
    spec = JobSpec(models=(1, 2), num_seeds=3, sample_slice=(2, 7))
    with pytest.raises(ConfigError, match=r"^input.sample_slice: \[2, 7\] goes past the job's 6 samples"):
        run_prediction(testdata / "colabfold" / "6A5J.a3m", tmp_path, reduced_weights, spec, model_config="reduced")


def test_check_refuses_more_af_cluster_samples_than_a_job_may_run(testdata, capsys):
    path = testdata / "pfam" / "fn3.sto"
    assert main(["--check", "--msa", str(path), "--msa-clusters", "--models", "1", "--num-seeds", "400"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["error"].startswith("--msa-clusters: 14 alignments (AF-Cluster's 4 clusters and 10 controls) x 400 "
                                    "predictions each = 5,600 samples, more than the 5,000 a job may run")


def test_samples_no_clustering_could_fit_are_refused_before_clustering(testdata, capsys):
    """Any clustering gives a cluster and ten controls: 11 x 5,000 samples are refused without clustering."""
    path = testdata / "colabfold" / "3G5O_A.a3m"
    assert main(["--check", "--msa", str(path), "--msa-clusters", "--num-seeds", "1000"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["error"].startswith("--msa-clusters: at least 11 alignments (a cluster and AF-Cluster's 10 controls) "
                                    "x 5000 predictions each = 55,000 samples, more than the 5,000 a job may run")


def test_af_cluster_finding_no_cluster_is_refused(testdata, capsys):
    """Pkinase's 38 rows are too far apart for DBSCAN: no cluster, nothing but random controls to predict."""
    assert main(["--check", "--msa", str(testdata / "pfam" / "Pkinase.sto"), "--msa-clusters"]) == 2
    line = json.loads(capsys.readouterr().out)
    assert line["error"].startswith("--msa-clusters: AF-Cluster found no cluster of 3 or more similar rows")
