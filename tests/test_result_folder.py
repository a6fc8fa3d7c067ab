"""The prediction's folder as ColabFold users know it: files named with rank, model and seed beside
ranked_{i}.*, a PAE panel per model, config.json, log.txt, msa.a3m and cite.bibtex."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import metadata

import pytest
from PIL import Image

from alphafold_msa.msa import ComplexMsa, assemble_complex, from_sequences, read_input, read_msa
from alphafold_msa.msa.filter import filter_msa
from alphafold_msa.predict import run_prediction
from alphafold_msa.protocol.archive import pack, unpack
from alphafold_msa.protocol.spec import JobSpec, TemplateSpec
from alphafold_msa.results.job_record import citations
from alphafold_msa.structures.read import load_structure_text

# Residues 24-39 of 1A7G's chain E (QUERY_1A7G in test_templates.py): 1A7G.cif covers all of them.
QUERY = "KYKQLYEQVSSTWHWT"
ROWS = [QUERY, QUERY[:8] + "AAAA" + QUERY[12:], "GG" + QUERY[2:], QUERY[:4] + "-" * 4 + QUERY[8:]]
STAMPED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (.*)")
DOIS = {"Jumper2021": "10.1038/s41586-021-03819-2", "Evans2021": "10.1101/2021.10.04.463034",
        "Mirdita2022": "10.1038/s41592-022-01488-1", "Eastman2017": "10.1371/journal.pcbi.1005659"}


@pytest.fixture(scope="module")
def template_weights(tmp_path_factory):
    """Reduced weights of a template-aware model (1) and a template-free one (3)."""
    from alphafold_msa.testing.make_weights import make_weights

    root = tmp_path_factory.mktemp("weights-1-3")
    make_weights(root, "reduced", seed=0, presets=["monomer_ptm"], numbers=[1, 3])
    return root


@pytest.fixture(scope="module")
def own_runners():
    """Runners of this module's own: nothing compiled before, so each compilation is announced."""
    from alphafold_msa.model.runner import RunnerCache

    return RunnerCache()


@pytest.fixture(scope="module")
def templated(testdata, template_weights, own_runners, tmp_path_factory):
    """A template job of two models (one reads the template, one does not), seed 3, both formats, two rows
    featurized; its result and progress messages."""
    messages: list[str] = []
    template = TemplateSpec("1A7G.cif", load_structure_text(testdata / "structures" / "1A7G.cif"))
    result = run_prediction(from_sequences(ROWS), tmp_path_factory.mktemp("templated"), template_weights,
                            model_config="reduced", runners=own_runners, progress=messages.append,
                            models=[1, 3], num_recycle=0, random_seed=3, max_msa_depth=2, formats=["pdb", "cif"],
                            templates=[template])
    return result, messages


def test_each_model_s_files_also_carry_colabfold_s_names(templated):
    result, _ = templated
    folder = result.output_dir
    assert sorted(m.model_name for m in result.models) == ["model_1_ptm", "model_3_ptm"]
    tags = [f"rank_{rank:03d}_{model.model_name}_seed_003" for rank, model in enumerate(result.models, start=1)]
    for model, tag in zip(result.models, tags):
        assert model.colabfold_tag == tag
        for fmt in ("pdb", "cif"):
            assert (folder / f"{tag}.{fmt}").read_text() == (folder / f"ranked_{model.rank}.{fmt}").read_text()
        assert (folder / f"scores_{tag}.json").read_text() == (folder / f"scores_rank_{model.rank}.json").read_text()
    assert not list(folder.glob("relaxed_*")), "nothing relaxed: no relaxed files under either name"


def test_the_pae_plot_has_a_panel_per_model_top_first(templated):
    result, _ = templated
    with Image.open(result.plots["pae"]) as image:
        title = image.text["Title"]
        width = image.size[0]
    labels = [f"rank {m.rank}: {m.model_name} seed 3" for m in result.models]
    assert title == " | ".join(["Predicted aligned error", *labels])
    assert width >= 2 * 300, "two panels side by side"


def test_compiling_names_the_network_each_time(templated):
    _, messages = templated
    compiling = [m for m in messages if m.startswith("compiling")]
    assert compiling == [
        "compiling the network with templates for 16 residues (once per length bucket; later jobs reuse it)",
        "compiling the network without templates for 16 residues (once per length bucket; later jobs reuse it)"]


def test_the_log_holds_every_progress_message_with_its_utc_time(templated):
    result, messages = templated
    lines = (result.output_dir / "log.txt").read_text().splitlines()
    stamped = [STAMPED.fullmatch(line) for line in lines]
    assert all(stamped), lines
    assert [m.group(2) for m in stamped if m] == messages
    times = [m.group(1) for m in stamped if m]
    assert times == sorted(times)
    assert any(m.startswith("model 2/2 done") for m in messages) and any("1A7G.cif" in m for m in messages)


def test_a_failing_job_leaves_its_log_so_far(templated, template_weights, own_runners, tmp_path):
    def progress(message: str) -> None:
        if message.startswith("model 1/2 done"):
            raise RuntimeError("the caller's progress display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        run_prediction(from_sequences(ROWS), tmp_path, template_weights, model_config="reduced", runners=own_runners,
                       progress=progress, models=[1, 3], num_recycle=0)
    logged = [match.group(2) for line in (tmp_path / "log.txt").read_text().splitlines()
              if (match := STAMPED.fullmatch(line))]
    assert logged[0].startswith("parsed MSA: 4 sequences") and logged[-1].startswith("model 1/2 done")


def test_config_holds_every_job_field_resolved_and_what_ran_it(templated):
    result, _ = templated
    text = (result.output_dir / "config.json").read_text()
    config = json.loads(text)
    assert text == json.dumps(config, indent=2, sort_keys=True) + "\n"
    assert {field.name for field in dataclasses.fields(JobSpec)} <= set(config)
    assert {key: config[key] for key in ("models", "num_recycle", "random_seed", "num_seeds", "max_msa_depth",
                                         "formats", "relax", "format", "query", "pairing", "all_models")} == {
        "models": [1, 3], "num_recycle": 0, "random_seed": 3, "num_seeds": 1, "max_msa_depth": 2,
        "formats": ["pdb", "cif"], "relax": "none", "format": "a3m", "query": "seq0", "pairing": None,
        "all_models": False}
    assert config["templates"] == [{"name": "1A7G.cif", "format": None, "chain": None, "query_chain": None}]
    assert len(config["max_msa"]) == 2 and isinstance(config["recycle_early_stop_tolerance"], float)
    assert {key: config[key] for key in ("preset", "model_names", "model_config", "kernels", "compile_mode")} == {
        "preset": "monomer_ptm", "model_names": ["model_1_ptm", "model_3_ptm"], "model_config": "reduced",
        "kernels": "xla", "compile_mode": "tuned"}
    assert config["versions"]["alphafold-colabfold"] == metadata.version("alphafold-colabfold")
    assert config["versions"]["jax"] == metadata.version("jax") and config["versions"]["alphafold-msa"]


def test_the_alignment_written_is_the_filtered_one(templated):
    result, _ = templated
    written = read_msa(result.output_dir / "msa.a3m")
    filtered, _ = filter_msa(from_sequences(ROWS), 2, seed=3)
    assert written.depth == 2 and written.query_sequence == QUERY
    assert (written.names, written.matrix.tolist(), written.deletions.tolist()) == (
        filtered.names, filtered.matrix.tolist(), filtered.deletions.tolist())


def test_a_monomer_job_cites_alphafold2_and_colabfold(templated):
    result, _ = templated
    text = (result.output_dir / "cite.bibtex").read_text()
    assert re.findall(r"@article\{(\w+),", text) == ["Jumper2021", "Mirdita2022"]
    assert text == citations(multimer=False, relaxed=False)


def test_citations_follow_what_ran_with_exact_dois():
    text = citations(multimer=True, relaxed=True)
    keys = re.findall(r"@article\{(\w+),", text)
    assert keys == ["Jumper2021", "Evans2021", "Mirdita2022", "Eastman2017"]
    entries = dict(zip(keys, text.split("@article")[1:]))
    for key, doi in DOIS.items():
        assert f"doi = {{{doi}}}" in entries[key]
    assert "pages = {583--589}" in entries["Jumper2021"] and "volume = {596}" in entries["Jumper2021"]
    assert "pages = {679--682}" in entries["Mirdita2022"] and "journal = {Nature Methods}" in entries["Mirdita2022"]
    assert "pages = {e1005659}" in entries["Eastman2017"] and "volume = {13}" in entries["Eastman2017"]
    assert text.count("{") == text.count("}")


def test_every_file_of_the_folder_travels_in_the_results_archive(templated, tmp_path):
    folder = templated[0].output_dir
    unpacked = unpack(pack(folder), tmp_path / "unpacked")
    names = sorted(p.name for p in unpacked)
    assert names == sorted(p.name for p in folder.iterdir())
    assert {"config.json", "log.txt", "msa.a3m", "cite.bibtex", f"{templated[0].best.colabfold_tag}.pdb"} <= set(names)


def test_a_multimer_complex_writes_its_complex_a3m_and_cites_alphafold_multimer(testdata, reduced_weights, runners,
                                                                                  tmp_path):
    chains = [read_msa(testdata / "pfam" / "20aa-alitest.afa"), read_msa(testdata / "colabfold" / "6A5J.a3m")]
    complex_msa = assemble_complex(chains, copies=[1, 2])
    result = run_prediction(complex_msa, tmp_path, reduced_weights, model_config="reduced", models=[1],
                            num_recycle=0, runners=runners)
    written = read_input(tmp_path / "msa.a3m")
    assert isinstance(written, ComplexMsa) and written.copies == (1, 2)
    assert written.sequences == complex_msa.sequences
    assert [chain.depth for chain in written.chains] == [c["num_sequences_filtered"]
                                                         for c in result.msa_summary["chains"]] == [3, 1]
    assert (tmp_path / "rank_001_model_1_multimer_v3_seed_000.pdb").read_text() == \
        result.best.structure_path.read_text()
    text = (tmp_path / "cite.bibtex").read_text()
    assert re.findall(r"@article\{(\w+),", text) == ["Jumper2021", "Evans2021", "Mirdita2022"]
    assert json.loads((tmp_path / "config.json").read_text())["model_names"] == ["model_1_multimer_v3"]


def test_without_a_bucket_a_large_archive_leaves_out_the_spare_files(templated, monkeypatch, tmp_path):
    """Past the inline limit, a worker without a bucket sends the archive without the copies under
    ColabFold's names, msa.a3m and report.html (its estimate before the job counts only the other files); the
    launcher writes report.html again from the files that came."""
    import base64

    from alphafold_msa.launcher.remote import receive
    from alphafold_msa.launcher.result_files import ResultOrigin
    from alphafold_msa.worker import handler as worker

    folder = templated[0].output_dir
    spare = sorted(p.name for p in folder.iterdir() if p.name in ("msa.a3m", "report.html")
                   or re.match(r"(scores_)?rank_\d{3}_model_\d_ptm_seed_003\.", p.name))
    assert len(spare) == 2 + 2 * 3, "msa.a3m, report.html; each model's pdb, cif and scores"
    monkeypatch.setattr(worker, "INLINE_ARCHIVE_BYTES", len(base64.b64encode(pack(folder, spare))))
    files = worker.deliver_archive("job-lean", folder, bucket=None)
    assert files["left_out"] == spare
    unpacked = unpack(base64.b64decode(files["data"]), tmp_path / "lean", files["sha256"])
    assert sorted(p.name for p in unpacked) == sorted(p.name for p in folder.iterdir() if p.name not in spare)
    received = receive({"files": files}, tmp_path / "received", ResultOrigin("job-lean", "http://127.0.0.1:9"))
    assert "report.html" in [p.name for p in received] and (tmp_path / "received" / "report.html").stat().st_size
    monkeypatch.setattr(worker, "INLINE_ARCHIVE_BYTES", len(base64.b64encode(pack(folder))))
    assert "left_out" not in worker.deliver_archive("job-full", folder, bucket=None)


def test_every_job_folder_holds_the_files_the_launcher_checks_before_a_job(templated):
    """protocol.archive.FIXED_RESULT_FILES: the names checked in --output-dir before any work."""
    from alphafold_msa.protocol.archive import FIXED_RESULT_FILES

    result, _ = templated
    assert set(FIXED_RESULT_FILES) <= {path.name for path in result.output_dir.iterdir()}
