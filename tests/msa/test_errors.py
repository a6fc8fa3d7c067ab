"""Bad alignments: a one-line error naming the file and what was expected, never a traceback."""

from __future__ import annotations

import pytest

from alphafold_msa.errors import MsaError
from alphafold_msa.msa import read_msa


def _error_for(tmp_path, content: bytes | str, name: str = "input.fasta") -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(MsaError) as caught:
        read_msa(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


def test_empty_file(tmp_path):
    assert "is empty" in _error_for(tmp_path, "")


def test_whitespace_only_file(tmp_path):
    assert "is empty" in _error_for(tmp_path, "  \n\n\t\n")


def test_binary_file(tmp_path):
    assert "binary" in _error_for(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_html_page_saved_as_fasta(tmp_path):
    assert "HTML" in _error_for(tmp_path, "<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n")


def test_not_an_alignment(tmp_path):
    message = _error_for(tmp_path, "hello world\nthis is not an alignment\n", "notes.txt")
    assert "not a recognised alignment" in message


def test_rows_of_unequal_length_in_stockholm(tmp_path):
    message = _error_for(tmp_path, "# STOCKHOLM 1.0\nq MKV-LA\nh MKVLA\n//\n", "bad.sto")
    assert "row 'h'" in message and "5 alignment columns" in message and "'q' has 6" in message


def test_a3m_row_with_wrong_match_count(tmp_path):
    message = _error_for(tmp_path, ">q\nMKVLA\n>h\nMKaaV\n>h2\nMKVLAGG\n", "bad.a3m")
    assert "row 'h'" in message and "line 3" in message and "3 match columns" in message


def test_illegal_character_names_row_line_and_column(tmp_path):
    message = _error_for(tmp_path, ">q\nMKVLA\n>h\nMK?LA\n", "bad.fasta")
    assert "'?'" in message and "row 'h'" in message and "line 3" in message and "column 3" in message


def test_nucleotide_alignment(tmp_path):
    message = _error_for(tmp_path, ">q\nACGTACGTTGCA\n>h\nACGTACG-TGCA\n", "dna.fasta")
    assert "nucleotide" in message


def test_query_all_gaps(tmp_path):
    message = _error_for(tmp_path, ">q\n------\n>h\nMKVLAG\n", "gaps.fasta")
    assert "no residues" in message


def test_truncated_stockholm(tmp_path):
    message = _error_for(tmp_path, "# STOCKHOLM 1.0\nq MKVLA\nh MKVLA\n", "cut.sto")
    assert "'//'" in message and "truncated" in message


def test_record_without_sequence(tmp_path):
    assert "has no sequence" in _error_for(tmp_path, ">q\nMKVLA\n>h\n")


def test_missing_file(tmp_path):
    with pytest.raises(MsaError, match="no such file"):
        read_msa(tmp_path / "absent.a3m")


def test_unknown_query_name(testdata):
    with pytest.raises(MsaError, match="no row named 'NOPE'"):
        read_msa(testdata / "pfam" / "globins4.sto", query="NOPE")


def test_query_longer_than_the_limit_is_rejected_before_any_model(testdata, monkeypatch, tmp_path):
    from alphafold_msa import run_prediction

    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_LENGTH", "50")
    with pytest.raises(MsaError, match=r"has 146 residues, over the maximum of 50 .*ALPHAFOLD_MSA_MAX_LENGTH"):
        # No weights exist at this param_dir: the length check comes first.
        run_prediction(testdata / "pfam" / "globins4.sto", tmp_path / "out", tmp_path / "no-weights")


def test_several_stockholm_alignments_use_the_first_with_a_warning(tmp_path, caplog):
    path = tmp_path / "two.sto"
    path.write_text("# STOCKHOLM 1.0\nq MKVLA\nh MK-LA\n//\n# STOCKHOLM 1.0\nz WWWWW\n//\n")
    msa = read_msa(path)
    assert msa.names == ["q", "h"]
    assert "several alignments" in caplog.text


def test_duplicated_names_are_allowed(tmp_path):
    path = tmp_path / "dups.fasta"
    path.write_text(">a\nMKVLA\n>a\nMKVLA\n>a\nMK-LA\n")
    assert read_msa(path).names == ["a", "a", "a"]


def test_rare_residue_codes_map_as_in_alphafold(tmp_path):
    from alphafold.common import residue_constants

    path = tmp_path / "rare.fasta"
    path.write_text(">q\nBZJUOXA\n>h\nbzjuoxa\n")
    msa = read_msa(path)
    expected = [residue_constants.HHBLITS_AA_TO_ID[c] for c in "BZJUOXA"]
    assert msa.matrix[0].tolist() == expected and msa.matrix[1].tolist() == expected


def test_a2m_dots_are_gaps_in_insert_columns(tmp_path):
    path = tmp_path / "family.a2m"
    path.write_text(">q\nMK..VLA\n>h\nMKgsV-A\n>h2\nMK.aVLA\n")
    msa = read_msa(path, format="a2m")
    assert msa.length == 5 and msa.format == "a2m"
    assert msa.deletions[1].tolist() == [0, 0, 2, 0, 0] and msa.deletions[2].tolist() == [0, 0, 1, 0, 0]


def test_non_ascii_character_names_row_line_and_column(tmp_path):
    message = _error_for(tmp_path, ">q\nMKVLA\n>h\nMKVÄA\n", "accent.fasta")
    assert "non-ASCII character 'Ä'" in message and "row 'h'" in message and "line 3" in message
    assert "column 4" in message
