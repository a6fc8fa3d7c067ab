"""What every query must be, a complex's each chain's: at least MIN_QUERY_LENGTH residues and a protein, not
a nucleotide, sequence. The readers apply it, so `launch.py --check`, a launcher run and the worker agree."""

from __future__ import annotations

import json

import pytest

from alphafold_msa.errors import MsaError
from alphafold_msa.launcher.cli import main
from alphafold_msa.msa import ComplexMsa, Msa, read_input
from alphafold_msa.msa.alignment import MIN_QUERY_LENGTH
from alphafold_msa.worker.handler import handle_job

RECEPTOR = "MKVLAGHWPYEDRSW"  # 15 residues
PEPTIDE = "SIINFEKL"  # an MHC class I epitope: the short chains complexes are predicted with
TOO_SHORT = "has 1 residue, fewer than the 4 a query or chain needs"
DNA = ("looks like DNA/RNA: its 6 residues are all nucleotide letters (A, C, G, T, U, N); AlphaFold2 predicts "
       "proteins: translate it first")


def _complex_a3m(receptor: str, partner: str) -> str:
    """ColabFold's complex a3m of two chains: the joint query, then each chain's query on its own."""
    gaps_a, gaps_b = "-" * len(receptor), "-" * len(partner)
    return (f"#{len(receptor)},{len(partner)}\t1,1\n>101\t102\n{receptor}{partner}\n"
            f">101\n{receptor}{gaps_b}\n>102\n{gaps_a}{partner}\n")


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def _refusal(path) -> str:
    with pytest.raises(MsaError) as caught:
        read_input(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def test_the_minimum_keeps_the_shortest_peptides_that_bind_as_chains():
    assert MIN_QUERY_LENGTH == 4, "a PDZ domain's ligand motif; MHC and SH3 peptides (8-10) are well above it"


@pytest.mark.parametrize("name, text, residues", [
    ("one.a3m", ">q\nM\n>h\nL\n", 1),
    ("one.sto", "# STOCKHOLM 1.0\nq M\nh L\n//\n", 1),
    ("three.fasta", ">q\n--MK-V--\n>h\nAAMKLVAA\n", 3),  # residues count, not columns
    ("three.a3m", ">q\nMKV\n>h\nMKaaV\n", 3),
])
def test_a_query_shorter_than_the_minimum_is_refused_naming_file_length_and_minimum(tmp_path, name, text, residues):
    message = _refusal(_write(tmp_path, name, text))
    assert f"has {residues} residue{'s' if residues > 1 else ''}, fewer than the {MIN_QUERY_LENGTH} a query or " \
           "chain needs" in message


@pytest.mark.parametrize("name, text", [("short.a3m", ">q\nMK?\n>h\nMKaV\n"), ("short.fasta", ">q\nMK?\n>h\nMKV\n"),
                                        ("short.sto", "# STOCKHOLM 1.0\nq MK?\nh MKV\n//\n")])
def test_an_illegal_character_in_a_short_query_is_named_as_such(tmp_path, name, text):
    message = _refusal(_write(tmp_path, name, text))
    assert "row 'q' has the illegal character '?' at alignment column 3" in message


@pytest.mark.parametrize("query", ["ACDE", PEPTIDE])
def test_a_query_of_the_minimum_length_or_an_epitope_is_read(tmp_path, query):
    msa = read_input(_write(tmp_path, "short.a3m", f">q\n{query}\n>h\n{query}\n"))
    assert isinstance(msa, Msa) and msa.query_sequence == query


def test_each_chain_of_a_complex_a3m_has_the_minimum(tmp_path):
    message = _refusal(_write(tmp_path, "complex.a3m", _complex_a3m(RECEPTOR, "W")))
    assert "(line 2, chain 2) " + TOO_SHORT in message
    peptide = read_input(_write(tmp_path, "peptide.a3m", _complex_a3m(RECEPTOR, PEPTIDE)))
    assert isinstance(peptide, ComplexMsa) and peptide.lengths == [len(RECEPTOR), len(PEPTIDE)]


def test_each_chain_file_of_a_complex_has_the_minimum(tmp_path, capsys):
    receptor = _write(tmp_path, "receptor.a3m", f">r\n{RECEPTOR}\n")
    short = _write(tmp_path, "short.a3m", ">p\nSIV\n")
    assert main(["--check", "--complex", "--msa", str(receptor), str(short)]) == 2
    assert f"{short}: the query row 'p' (line 1) has 3 residues, fewer than the 4" in capsys.readouterr().err
    peptide = _write(tmp_path, "peptide.a3m", f">p\n{PEPTIDE}\n")
    assert main(["--check", "--complex", "--msa", str(receptor), str(peptide)]) == 0
    assert json.loads(capsys.readouterr().out)["chain_lengths"] == [len(RECEPTOR), len(PEPTIDE)]


@pytest.mark.parametrize("query", ["GAATTC", "gaattc", "GAAUUC", "GANNTC"])
def test_a_query_of_nucleotide_letters_is_refused_as_dna_or_rna(tmp_path, query):
    message = _refusal(_write(tmp_path, "dna.fasta", f">q\n{query}\n>h\n{query}\n"))
    assert f"the query row 'q' (line 1) {DNA}" in message


def test_a_protein_query_with_nucleotide_letters_among_others_is_read(tmp_path):
    assert read_input(_write(tmp_path, "protein.a3m", ">q\nGAATTCW\n")).query_sequence == "GAATTCW"


def test_a_short_peptide_of_nucleotide_letters_is_read(tmp_path):
    assert read_input(_write(tmp_path, "peptide.a3m", ">q\nGTNAC\n")).query_sequence == "GTNAC"


def test_each_chain_of_a_complex_is_checked_for_nucleotides(tmp_path, capsys):
    assert "(line 2, chain 1) " + DNA in _refusal(_write(tmp_path, "complex.a3m", _complex_a3m("GAATTC", PEPTIDE)))
    dna = _write(tmp_path, "dna.a3m", ">d\nGAATTC\n")
    receptor = _write(tmp_path, "receptor.a3m", f">r\n{RECEPTOR}\n")
    assert main(["--check", "--complex", "--msa", str(receptor), str(dna)]) == 2
    assert f"{dna}: the query row 'd' (line 1) {DNA}" in capsys.readouterr().err


@pytest.mark.parametrize("text", [">q\nM\n>h\nL\n", ">q\nGAATTC\n", _complex_a3m(RECEPTOR, "W"),
                                  _complex_a3m(RECEPTOR, "GAATTC")])
def test_check_the_launcher_and_the_worker_refuse_alike(tmp_path, monkeypatch, capsys, text):
    path = _write(tmp_path, "input.a3m", text)
    expected = _refusal(path).removeprefix(f"{path}: ")
    assert main(["--check", "--msa", str(path)]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == f"{path}: {expected}"
    weights = tmp_path / "weights"
    assert main(["--local", "--msa", str(path), "--output", str(tmp_path / "x.pdb"), "--param-dir", str(weights)]) == 2
    assert capsys.readouterr().err == f"error: {path}: {expected}\n" and not weights.exists()
    monkeypatch.setenv("WORKDIR", str(tmp_path / "work"))
    assert handle_job({"id": "short", "input": {"msa": text}}) == {"error": f"input.msa: {expected}"}
