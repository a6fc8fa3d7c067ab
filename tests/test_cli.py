"""launch.py's command line as a new user meets it, in-process through main(argv): one meaning per
command line, every option checked before anything runs, and a console that is never silent."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import PDB, alignment_folder
from endpoint_emulator import EndpointEmulator, Reply

from alphafold_msa.errors import EXIT_RESOURCES
from alphafold_msa.launcher.cli import build_parser, main


def test_several_alignments_are_a_batch_that_needs_an_output_dir(testdata, tmp_path, capsys):
    data = testdata / "colabfold"
    code = main(["--msa", str(data / "3G5O_A.a3m"), str(data / "3G5O_B.a3m"), "--output", str(tmp_path / "ab.pdb"),
                 "--endpointId", "ep1", "--api-key", "k"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1, error
    assert "--complex" in error and "--output-dir" in error
    assert not (tmp_path / "ab.pdb").exists()


def test_prefixes_of_flags_are_not_accepted(testdata, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--check", "--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--complex-m", "ptm"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --complex-m" in capsys.readouterr().err


def test_check_mirrors_a_batch_one_json_line_per_alignment(testdata, tmp_path, capsys):
    folder = alignment_folder(tmp_path / "in", testdata, "ragged.fasta", ">q\nMKVLAG-\n>x\nMKVLA\n")
    code = main(["--check", "--msa", str(folder)])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 2, "a bad alignment fails the check, after every file was checked"
    assert [line["file"].rsplit("/", 1)[-1] for line in lines] == ["20aa-alitest.afa", "6A5J.a3m", "ragged.fasta"]
    assert lines[1]["query_length"] == 13 and "error" not in lines[1]
    assert lines[2]["error"].endswith("line 3: row 'x' has 5 columns, the query 'q' has 7; aligned FASTA rows must "
                                      "all have the same length")
    assert captured.err.startswith("error: ") and "a3m" not in captured.err


def test_check_of_a_complex_is_one_object_and_paired_takes_several_files(testdata, capsys):
    data = testdata / "colabfold"
    chains = ["--msa", str(data / "3G5O_A.a3m"), str(data / "3G5O_B.a3m")]
    assert main(["--check", "--complex", *chains, "--paired", str(data / "3G5O_A.paired.a3m"),
                 str(data / "3G5O_B.paired.a3m")]) == 0
    (paired,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert paired["chain_ids"] == ["A", "B"] and paired["paired_rows"] == 14
    assert main(["--check", "--complex", *chains]) == 0
    (unpaired,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    a, b = (json.loads(line) for line in _check_lines(capsys, chains))
    assert unpaired["num_sequences"] == a["num_sequences"] + b["num_sequences"] - 1, "the query counts once"
    assert paired["num_sequences"] == unpaired["num_sequences"] + 14


def _check_lines(capsys, msa_args: list[str]) -> list[str]:
    assert main(["--check", *msa_args]) == 0
    return capsys.readouterr().out.splitlines()


def test_complex_depth_is_the_rows_of_its_alignment(testdata):
    from alphafold_msa.model.complex_features import concatenated_msa
    from alphafold_msa.msa import assemble_complex, read_msa

    data = testdata / "colabfold"
    chains = [read_msa(data / "3G5O_A.a3m"), read_msa(data / "3G5O_B.a3m")]
    for paired in (None, [read_msa(data / "3G5O_A.paired.a3m"), read_msa(data / "3G5O_B.paired.a3m")]):
        complex_msa = assemble_complex(chains, None, paired)
        assert complex_msa.depth == concatenated_msa(complex_msa).depth


@pytest.mark.parametrize("extra, message", [
    (["--models", "7"], "--models: 7 is greater than the maximum of 5"),
    (["--models", "0"], "--models: 0 is less than the minimum of 1"),
    (["--models", "1,1"], "--models: [1, 1] has non-unique elements"),
    (["--num-recycle", "99"], "--num-recycle: 99 is greater than the maximum of 48"),
    (["--max-msa-depth", "0"], "--max-msa-depth: 0 is less than the minimum of 1"),
])
def test_options_are_checked_before_weights_are_touched(testdata, tmp_path, capsys, extra, message):
    code = main(["--local", "--msa", str(testdata / "colabfold" / "6A5J.a3m"), "--output", str(tmp_path / "x.pdb"),
                 "--param-dir", str(tmp_path / "weights"), *extra])
    error = capsys.readouterr().err
    assert code == 2 and error == f"error: {message}\n"
    assert not (tmp_path / "weights").exists(), "nothing was downloaded"


def test_flags_are_named_as_job_fields():
    parser = build_parser()
    assert parser.parse_args(["--seed", "3"]).random_seed == parser.parse_args(["--random-seed", "3"]).random_seed == 3
    assert parser.parse_args(["--max-msa-depth", "64"]).max_msa_depth == 64


def test_max_msa_depth_bounds_the_filtered_alignment(testdata, capsys):
    (line,) = _check_lines(capsys, ["--msa", str(testdata / "colabfold" / "3G5O_A.a3m"), "--max-msa-depth", "100"])
    assert json.loads(line)["num_sequences_filtered"] == 100


def test_help_groups_batch_flags_and_ends_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    options = text[text.index("\nbatch (several alignments"):]
    assert options.index("--concurrency") < options.index("--max-retries") < options.index("remote prediction")
    examples = text[text.index("examples:"):]
    assert examples.count("python launch.py") >= 4 and "--complex --msa A.a3m B.a3m --paired" in examples


def test_remote_mode_shows_the_workers_progress_and_sums_up(testdata, tmp_path, capsys):
    output = {"structure": PDB, "structure_format": "pdb", "model": "model_1_multimer_v3", "mean_plddt": 80.0,
              "ptm": 0.5, "iptm": 0.25, "max_pae": 3.0, "plddt": [80.0]}
    messages = ["compiling the network for 26 residues (once per length bucket; later jobs reuse it)",
                "model 1/2 done: model_1_multimer_v3 seed 0", "model 2/2 done: model_2_multimer_v3 seed 0"]
    with EndpointEmulator() as emulator:
        emulator.status_replies = [
            Reply(200, {"id": "job-1", "status": "IN_QUEUE", "delayTime": 2000}),
            *(Reply(200, {"id": "job-1", "status": "IN_PROGRESS", "output": text}) for text in messages),
            Reply(200, {"id": "job-1", "status": "IN_PROGRESS", "output": messages[-1]}),
            Reply(200, {"id": "job-1", "status": "COMPLETED", "executionTime": 1200, "output": output}),
        ]
        chains = [str(testdata / "pfam" / "20aa-alitest.afa"), str(testdata / "colabfold" / "6A5J.a3m")]
        code = main(["--complex", "--msa", *chains, "--output", str(tmp_path / "ab.pdb"), "--endpointId", "ep1",
                     "--api-url", emulator.url, "--api-key", "k", "--poll-interval", "0.01"])
    error = capsys.readouterr().err
    assert code == 0, error
    assert "chains unpaired: block-diagonal MSA" in error.splitlines()[0]
    shown = [line.split("] ", 1)[1] for line in error.splitlines() if line.startswith("[")]
    assert shown == ["IN_QUEUE: queued 2 s", *(f"IN_PROGRESS: {text}" for text in messages), "COMPLETED"]
    assert error.splitlines()[-1] == (f"wrote {tmp_path / 'ab.pdb'} (model_1_multimer_v3, mean pLDDT 80.00, "
                                      f"pTM 0.500, ipTM 0.250, not relaxed)")


def test_batch_start_line_counts_invalid_and_finished(testdata, reduced_weights, runners, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(testdata / "colabfold" / "6A5J.a3m", folder)
    (folder / "notes.sto").write_text("just some notes\n")
    args = ["--local", "--msa", str(folder), "--output-dir", str(tmp_path / "out"), "--param-dir", str(reduced_weights),
            "--model-config", "reduced", "--models", "1", "--num-recycle", "0"]
    assert main(args, runners=runners) == 3
    first = capsys.readouterr().err
    assert "2 alignments, each its own job; 1 invalid, not submitted; predicting here, one at a time" in first
    assert main(args, runners=runners) == 3
    again = capsys.readouterr().err
    assert "2 alignments, each its own job; 1 invalid, not submitted; 1 already finished; predicting here" in again


def test_local_complex_without_pairing_says_so(testdata, reduced_weights, runners, tmp_path, capsys):
    # the complex of test_complex's unpaired test: the session's runners have compiled its shapes
    output = tmp_path / "abb.pdb"
    code = main(["--local", "--complex", "--msa", str(testdata / "pfam" / "20aa-alitest.afa"),
                 str(testdata / "colabfold" / "6A5J.a3m"), "--copies", "1,2", "--output", str(output), "--param-dir",
                 str(reduced_weights), "--model-config", "reduced", "--models", "1", "--num-recycle", "0"],
                runners=runners)
    error = capsys.readouterr().err
    assert code == 0, error
    assert "not relaxed); chains unpaired: block-diagonal MSA (no species keys in" in error.splitlines()[-1]
    assert "note: chains unpaired: block-diagonal MSA" in output.with_suffix(".summary.txt").read_text()


def test_a_job_too_large_for_this_machine_is_refused_with_the_resources_code(testdata, reduced_weights, runners,
                                                                             tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALPHAFOLD_MSA_DEVICE_MEMORY_GB", "0.05")
    output = tmp_path / "x.pdb"
    code = main(["--local", "--msa", str(testdata / "pfam" / "Pkinase.sto"), "--output", str(output), "--param-dir",
                 str(reduced_weights), "--model-config", "reduced", "--models", "1", "--num-recycle", "0"],
                runners=runners)
    error = capsys.readouterr().err
    assert code == EXIT_RESOURCES, error
    assert error.splitlines()[-1].startswith("error: a 248-residue query needs about")
    assert "ALPHAFOLD_MSA_DEVICE_MEMORY_GB=0.05" in error and "Traceback" not in error
    assert not output.exists()


def test_git_ignores_every_file_the_quick_start_writes():
    import re
    import subprocess
    from pathlib import Path

    from conftest import REPO

    from alphafold_msa.launcher.output_paths import BESIDE_OUTPUT, SUMMARIES

    readme = (REPO / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start"):readme.index("## Batches")]
    output = Path(re.search(r"launch\.py --local --demo-weights .*--output (\S+)", quick_start).group(1))
    written = [output, output.with_suffix(".scores.json"), *(f"{output.stem}_{name}" for name in BESIDE_OUTPUT),
               *(output.with_suffix(f".{name}") for name in SUMMARIES)]
    checked = subprocess.run(["git", "check-ignore", "--no-index", *map(str, written)], cwd=REPO,
                             capture_output=True, text=True)
    assert sorted(checked.stdout.split()) == sorted(map(str, written))


def test_a_terminal_sees_the_clock_tick_while_a_step_runs(monkeypatch):
    import io
    import time
    import types

    from alphafold_msa.launcher import console

    clock = [1000.0]  # the progress log's clock, moved by the test: no assertion depends on the machine's speed
    monkeypatch.setattr(console, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def shown() -> str:
        with progress.lock:
            return terminal.getvalue()

    terminal = Terminal()
    with console.ProgressLog(terminal, tick_s=0.01) as progress:
        progress("compiling the network for 13 residues")
        clock[0] += 12.3  # the step runs on without a message
        deadline = time.monotonic() + 30
        while "[  12.3 s] compiling" not in shown() and time.monotonic() < deadline:
            time.sleep(0.01)
        progress("model 1/1 done")
    redraws = terminal.getvalue().split("\r\033[K")
    assert redraws[1] == "[   0.0 s] compiling the network for 13 residues"
    assert "[  12.3 s] compiling the network for 13 residues\n" in redraws, "the clock ticks on the step's line"
    assert redraws[-1] == "[  12.3 s] model 1/1 done\n" and terminal.getvalue().count("\n") == 2
