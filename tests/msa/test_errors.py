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
