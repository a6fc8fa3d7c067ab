"""Reading real alignments: a3m, Stockholm, aligned FASTA, Clustal; compression; query choice."""

from __future__ import annotations

import bz2
import gzip
import lzma

import numpy as np
import pytest
from Bio import AlignIO

from alphafold_msa.msa import parse_msa, read_msa
from alphafold_msa.msa.alignment import _HHBLITS_IDS


@pytest.mark.parametrize("name", ["3G5O_A.a3m", "3G5O_B.a3m", "6A5J.a3m", "5AWL1.a3m"])
def test_a3m_matches_alphafold_parser(testdata, name):
    from alphafold.data import parsers, pipeline

    text = (testdata / "colabfold" / name).read_text()
    reference = pipeline.make_msa_features([parsers.parse_a3m(text)])
    msa = read_msa(testdata / "colabfold" / name)
    np.testing.assert_array_equal(msa.matrix, reference["msa"])
    np.testing.assert_array_equal(msa.deletions, reference["deletion_matrix_int"])
    assert msa.query_sequence == text.splitlines()[1].strip()


def test_a3m_format_detected_from_content(testdata, tmp_path):
    copy = tmp_path / "msa.fasta"  # the extension says FASTA, the content is a3m
    copy.write_bytes((testdata / "colabfold" / "3G5O_A.a3m").read_bytes())
    msa = read_msa(copy)
    assert msa.format == "a3m"
    assert (msa.depth, msa.length) == (7527, 93)


def _independent_a3m_rows(records: list[tuple[str, str]]) -> list[tuple[str, list[int]]]:
    """Query-relative conversion written plainly, one character at a time, for cross-checking."""
    query = records[0][1]
    out = []
    for _, row in records:
        residues, deletions, pending = [], [], 0
        for q, c in zip(query, row):
            if q in "-.":
                pending += c.isalpha()
            else:
                residues.append("-" if c in "-." else c.upper())
                deletions.append(pending)
                pending = 0
        out.append(("".join(residues), deletions))
    return out


@pytest.mark.parametrize("name", ["Pkinase.sto", "fn3.sto", "RRM_1.sto", "globins4.sto"])
def test_stockholm_matches_biopython_reading(testdata, name):
    path = testdata / "pfam" / name
    alignment = AlignIO.read(str(path), "stockholm")
    records = [(rec.id, str(rec.seq)) for rec in alignment]
    expected = _independent_a3m_rows(records)
    msa = read_msa(path)
    assert msa.format == "stockholm"
    assert msa.depth == len(records)
    letters = {v: k for k, v in _HHBLITS_IDS.items() if k in "ACDEFGHIKLMNPQRSTVWYX"}
    letters[21] = "-"
    for row, dels, (residues, deletions) in zip(msa.matrix, msa.deletions, expected):
        decoded = "".join(letters[int(i)] for i in row)
        assert decoded == "".join(c if c in letters.values() else letters[_HHBLITS_IDS[c]] for c in residues)
        assert dels.tolist() == deletions


@pytest.mark.parametrize("name", ["Pkinase.sto", "fn3.sto", "RRM_1.sto", "globins4.sto"])
def test_alphafold_stockholm_conversion_is_ragged_but_ours_is_not(testdata, name):
    """Regression: alphafold's convert_stockholm_to_a3m drops every '.', misaligning Pfam rows."""
    from alphafold.data import parsers

    text = (testdata / "pfam" / name).read_text()
    converted = parsers.convert_stockholm_to_a3m(text)
    theirs = parsers.parse_a3m(converted)
    lengths = {len(s) for s in theirs.sequences}
    assert len(lengths) > 1, "alphafold's conversion is expected to produce rows of different lengths"
    msa = read_msa(testdata / "pfam" / name)
    assert msa.matrix.shape == (len(theirs.sequences), len(msa.query_sequence))


def test_aligned_fasta_query_gaps_become_insertions(testdata):
    msa = read_msa(testdata / "pfam" / "20aa-alitest.afa")
    assert msa.format == "fasta"
    assert msa.query_sequence == "ACDEFGHIKLMNPQRSTVWY"
    assert msa.length == 20
    # test2 "XXXXACDEFGHI--MNXXX--PQRSTVWY----": 4 inserted X before A, 3 before P.
    assert msa.deletions[1, 0] == 4
    assert msa.deletions[1, msa.query_sequence.index("P")] == 3
    assert msa.matrix[1, msa.query_sequence.index("K")] == 21


def _write_as(fmt: str, names: list[str], rows: list[str]) -> str:
    if fmt == "fasta":
        return "".join(f">{n}\n{r}\n" for n, r in zip(names, rows))
    if fmt == "stockholm":
        half = len(rows[0]) // 2
        block1 = "".join(f"{n} {r[:half]}\n" for n, r in zip(names, rows))
        block2 = "".join(f"{n} {r[half:]}\n" for n, r in zip(names, rows))
        return f"# STOCKHOLM 1.0\n#=GF ID test\n\n{block1}#=GC RF x\n\n{block2}//\n"
    if fmt == "clustal":
        return "CLUSTAL W (1.83) multiple sequence alignment\n\n" + "".join(
            f"{n}    {r}\n" for n, r in zip(names, rows)) + "              ****\n"
    query = rows[0]
    def a3m_cell(q: str, c: str) -> str:
        if q in "-.":
            return c.lower() if c.isalpha() else ""
        return "-" if c == "." else c

    a3m_rows = ["".join(a3m_cell(q, c) for q, c in zip(query, r)) for r in rows]
    return "".join(f">{n}\n{r}\n" for n, r in zip(names, a3m_rows))


def test_same_alignment_in_every_format_gives_identical_features():
    from alphafold_msa.model.features import build_features

    names = ["query", "hit1", "hit2", "hit3"]
    rows = ["MKV-LA--GHWEE.", "MKVALAKKGH-EEK", "-RVQL.PPGHWD.-", "MKV-LA--GHWEEQ"]
    feature_sets = {}
    for fmt in ("a3m", "fasta", "stockholm", "clustal"):
        msa = parse_msa(_write_as(fmt, names, rows), source=f"test.{fmt}")
        assert msa.format == fmt
        feature_sets[fmt] = build_features(msa)
    reference = feature_sets.pop("a3m")
    for fmt, features in feature_sets.items():
        for key in ("aatype", "msa", "deletion_matrix_int", "residue_index", "seq_length"):
            np.testing.assert_array_equal(features[key], reference[key], err_msg=f"{fmt}: {key}")


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_files_are_detected_by_magic_bytes(testdata, tmp_path, compress):
    path = tmp_path / "alignment.sto"
    path.write_bytes(compress((testdata / "pfam" / "globins4.sto").read_bytes()))
    assert read_msa(path).names == ["HBB_HUMAN", "HBA_HUMAN", "MYG_PHYCA", "GLB5_PETMA"]


def test_windows_line_endings_and_bom_are_accepted(testdata, tmp_path):
    text = (testdata / "pfam" / "globins4.sto").read_text()
    path = tmp_path / "windows.sto"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    original = read_msa(testdata / "pfam" / "globins4.sto")
    np.testing.assert_array_equal(read_msa(path).matrix, original.matrix)


def test_named_query_row_moves_to_the_front(testdata):
    msa = read_msa(testdata / "pfam" / "globins4.sto", query="MYG_PHYCA")
    assert msa.query_name == "MYG_PHYCA"
    assert msa.query_sequence.startswith("VLSEGEWQLV")
    assert msa.depth == 4


def test_wrapped_fasta_and_trailing_stop_are_read():
    msa = parse_msa(">q desc\nMKV\nLAG*\n>h\nMK-\nLAG*\n")
    assert msa.query_sequence == "MKVLAG"
    assert msa.matrix[1, 2] == 21
