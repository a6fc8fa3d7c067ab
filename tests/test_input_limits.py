"""A job's input is bounded by construction: alignments are read as a stream and stopped at limits named by
their settings before the memory is spent; pairing keys, featurized rows and template work are bounded too."""

from __future__ import annotations

import gzip
import tracemalloc
from typing import Callable

import numpy as np
import pytest

from alphafold_msa.errors import MsaError, MsaTooLargeError, TemplateError
from alphafold_msa.model.feature_memory import BYTES_PER_CELL, feature_depth, featurized
from alphafold_msa.msa import ComplexMsa, Msa, parse_input
from alphafold_msa.msa.alignment import MIN_QUERY_LENGTH
from alphafold_msa.msa.limits import AlignmentLimits, job_memory_bytes
from alphafold_msa.msa.pairing import pair_complex
from alphafold_msa.protocol.spec import JobSpec, TemplateSpec
from alphafold_msa.structures import match
from alphafold_msa.structures.match import match_templates
from alphafold_msa.structures.read import MAX_ATOMS, MAX_CHAINS, read_structure


def peak_bytes(call: Callable[[], object]) -> tuple[int, object]:
    """(the most Python-allocated bytes held at once during `call`, what it raised or returned)."""
    tracemalloc.start()
    try:
        try:
            outcome = call()
        except Exception as error:  # the refusal is part of what is measured
            outcome = error
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()


def test_tiny_records_are_refused_at_the_row_limit_before_the_rest_is_decompressed(monkeypatch):
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_ROWS", "1000")
    packed = gzip.compress(b">\nM\n" * 10_000_000)  # 40 MB of text in 40 kB
    peak, outcome = peak_bytes(lambda: parse_input(packed, source="tiny.a3m.gz"))
    assert isinstance(outcome, MsaTooLargeError)
    assert str(outcome) == ("tiny.a3m.gz: line 2001: more than 1,000 sequences (rows), the most one alignment may "
                            "have; remove redundant rows first (e.g. hhfilter -id 90) (ALPHAFOLD_MSA_MAX_ROWS raises "
                            "this limit)")
    assert peak < 4_000_000, "the text is read as a stream: never held whole"


@pytest.mark.parametrize("setting, value, text, message", [
    ("ALPHAFOLD_MSA_MAX_RESIDUES", "30", ">q\nMKVLA\n" + ">h\nMKVLA\n" * 10, "line 14: the rows hold more than 30 "),
    ("ALPHAFOLD_MSA_MAX_COLUMNS", "8", ">q\nMKVLA\n>h\nMKaaaaaVLA\n", "line 4: row 'h' has more than 8 aligned"),
    ("ALPHAFOLD_MSA_MAX_COLUMNS", "8", ">q\nMKVLA\n>h\nMKaaa\naaVLA\n", "line 5: row 'h' has more than 8 aligned"),
    ("ALPHAFOLD_MSA_MAX_HEADER_CHARS", "20", ">q\nMKVLA\n>h " + "x" * 30 + "\nMKVLA\n", "line 3: a header of 33 "),
    ("ALPHAFOLD_MSA_MAX_ROWS", "3", "# STOCKHOLM 1.0\nq MKVLA\na MKVLA\nb MKVLA\nc MKVLA\n//\n",
     "line 5: more than 3 sequences"),
    ("ALPHAFOLD_MSA_MAX_RESIDUES", "11", "CLUSTAL W\n\nq MKV\nh MKV\n\nq LAG\nh LAG\n",
     "line 7: the rows hold more than 11"),
    ("ALPHAFOLD_MSA_MAX_COLUMNS", "5", "# STOCKHOLM 1.0\nq MKV\nh MKV\n\nq LAG\nh LAG\n//\n",
     "line 5: row 'q' has more"),
    ("ALPHAFOLD_MSA_MAX_RESIDUES", "20", "#5,5\t1,1\n>101\t102\nMKVLAGGWWW\n>101\nMKVLA-----\n>102\n-----GGWWW\n"
     ">h\nMKVLA-----\n", "line 7: the rows hold more than 20"),
    ("ALPHAFOLD_MSA_MAX_MSA_BYTES", "20", ">q\nMKVLA\n>h\nMKVLA\n>h\nMKVLA\n", "larger than the 20-byte limit"),
])
def test_each_limit_stops_every_reader_naming_the_line_and_its_setting(monkeypatch, setting, value, text, message):
    monkeypatch.setenv(setting, value)
    with pytest.raises(MsaTooLargeError) as refused:
        parse_input(text, source="input.msa")
    assert str(refused.value).startswith(f"input.msa: {message}".replace("input.msa: larger", "input.msa: the "
                                                                         "alignment is larger"))
    assert setting in str(refused.value)


@pytest.mark.parametrize("text", [
    ">q\n" + "M" * 40 + "\n" + ">h\nMKVLA\n" * 1_000_000,  # refused at its first record
    "#30,20\t1,1\n" + ">h\nMKVLA\n" * 1_000_000,  # refused at its header, before any row
])
def test_a_query_longer_than_the_limit_is_refused_as_soon_as_its_length_is_known(monkeypatch, text):
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_LENGTH", "30")
    packed = gzip.compress(text.encode())
    peak, outcome = peak_bytes(lambda: parse_input(packed, source="long.a3m"))
    assert isinstance(outcome, MsaError) and "over the maximum of 30 this worker accepts (ALPHAFOLD_MSA_MAX_LENGTH)" \
        in str(outcome)
    assert peak < 2_000_000


def test_interleaved_rows_cost_their_characters_not_an_object_per_piece():
    block = "".join(f"r{n} MK\n" for n in range(1_000)) + "\n"
    text = f"# STOCKHOLM 1.0\n{block * 150}//\n".encode()
    peak, outcome = peak_bytes(lambda: parse_input(text, source="pieces.sto"))
    assert isinstance(outcome, Msa) and (outcome.depth, outcome.length) == (1_000, 300)
    # 300,000 characters of rows in 150,000 pieces: as one object each they would take some 9 MB.
    assert peak < 4_000_000


def test_default_limits_follow_the_job_memory_and_fit_in_it(monkeypatch):
    monkeypatch.setenv("ALPHAFOLD_MSA_JOB_MEMORY_GB", "1")
    limits = AlignmentLimits.from_settings()
    assert job_memory_bytes() == 1_000_000_000
    assert (limits.max_bytes, limits.max_rows, limits.max_residues) == (125_000_000, 625_000, 104_166_666)
    assert limits.held_bytes() <= 1_000_000_000
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_ROWS", "123")
    assert AlignmentLimits.from_settings().max_rows == 123
    monkeypatch.delenv("ALPHAFOLD_MSA_JOB_MEMORY_GB")
    assert 0.5e9 <= job_memory_bytes() <= 1.5e9


def _complex(rows: list[tuple[str, str]]) -> ComplexMsa:
    """A heterodimer (5 + 5 residues) whose second chain has `rows` (name, header) with a species key each."""
    lines = ["#5,5\t1,1", ">101\t102", "MKVLAGGWWW", ">101", "MKVLA-----", ">x OX=9606", "MKVLV-----", ">102",
             "-----GGWWW"] + [f">{name} {header}\n-----GGWWF" for name, header in rows]
    return parse_input("\n".join(lines) + "\n")


def test_a_species_key_longer_than_the_limit_is_refused_naming_the_row(monkeypatch):
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_KEY_CHARS", "50")
    with pytest.raises(MsaTooLargeError, match=r"row 'long' carries a species key of 64 characters, over the 50 .*"
                                               r"ALPHAFOLD_MSA_MAX_KEY_CHARS"):
        pair_complex(_complex([("long", "key=" + "k" * 60)]), "species")


def test_species_keys_take_their_own_length_not_the_longest_keys(monkeypatch):
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_KEY_CHARS", "30000")
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_HEADER_CHARS", "30000")
    rows = [("long", "key=" + "k" * 20_000)] + [(f"r{n}", f"OX={9606 if n == 0 else 10_000 + n}") for n in range(2_000)]
    complex_msa = _complex(rows)
    peak, paired = peak_bytes(lambda: pair_complex(complex_msa, "species"))
    assert paired.pairing.method == "species" and paired.paired_rows == 1  # x and r0 share OX=9606
    # As fixed-width text every key would take the longest key's 20,000 characters: 160 MB.
    assert peak < 20_000_000


def _msa(depth: int, length: int) -> Msa:
    return Msa(names=[f"r{i}" for i in range(depth)], matrix=np.zeros((depth, length), np.uint8),
               deletions=np.zeros((depth, length), np.int32), query_sequence="A" * length, format="a3m", source="x")


def test_featurized_rows_fit_the_memory_left_but_never_fall_below_what_the_network_reads():
    msa = _msa(100_000, 100)
    budget = 300_000_000
    depth = feature_depth(msa, "multimer", 1_000_000, network_rows=5632, budget_bytes=budget)
    assert featurized(msa, "multimer", depth)[1] <= budget < featurized(msa, "multimer", depth + 1)[1]
    assert depth == budget // (100 * BYTES_PER_CELL["pipeline"])
    assert feature_depth(msa, "multimer", 1_000, network_rows=5632, budget_bytes=budget) == 1_000
    assert feature_depth(msa, "multimer", 1_000_000, network_rows=5632, budget_bytes=0) == 5632
    copies = ComplexMsa(chains=(_msa(20_000, 20),), copies=(62,), paired=None, source="x")
    for mode in ("ptm", "multimer"):
        # The chains side by side: 62 copies of every row over all 1,240 residues; 43 rows per chain give the
        # network its 2,556 rows, whatever the budget.
        assert featurized(copies, mode, 43)[0] == 1 + 62 * 42 >= 2556 > featurized(copies, mode, 42)[0]
        assert feature_depth(copies, mode, 1_000_000, network_rows=2556, budget_bytes=1_000) == 43
        depth = feature_depth(copies, mode, 1_000_000, network_rows=2556, budget_bytes=10 * budget)
        assert featurized(copies, mode, depth)[1] <= 10 * budget < featurized(copies, mode, depth + 1)[1]


def test_a_job_featurizes_what_its_memory_allows_and_says_so(testdata, monkeypatch, reduced_weights, runners,
                                                             tmp_path):
    from alphafold_msa import run_prediction

    monkeypatch.setenv("ALPHAFOLD_MSA_JOB_MEMORY_GB", "0.02")  # 3G5O_A (7,527 rows of 93) holds some 6.5 MB
    result = run_prediction(testdata / "colabfold" / "3G5O_A.a3m", tmp_path / "out", reduced_weights,
                            model_config="reduced", models=[1], num_recycle=0, max_msa_depth=1_000_000,
                            runners=runners)
    summary = result.msa_summary
    depth = summary["filter"]["max_msa_depth"]
    assert 48 <= depth < summary["filter"]["unique_depth"] and summary["num_sequences_filtered"] == depth
    assert summary["depth_note"].startswith(f"max_msa_depth lowered from 1,000,000 to {depth:,} rows per chain")
    assert "ALPHAFOLD_MSA_JOB_MEMORY_GB" in (result.output_dir / "summary.txt").read_text()


def _pdb_chains(count: int, residues: int = 3) -> str:
    """A structure of `count` chains (distinct chain IDs), each a short distinct CA trace."""
    ids = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    names = ("ALA", "GLY", "SER", "THR", "VAL", "LEU", "ILE", "MET", "PHE", "TRP", "TYR", "ASN")
    lines, serial = [], 1
    for chain in range(count):
        for residue in range(residues):
            name = names[(chain // len(names) ** residue) % len(names)] if residue < 2 else "LYS"
            lines.append(f"ATOM  {serial:5d}  CA  {name} {ids[chain % len(ids)]}{residue + 1:4d}    "
                         f"{3.8 * residue:8.3f}{float(chain):8.3f}{0:8.3f}  1.00  0.00           C\n")
            serial += 1
    return "".join(lines) + "END\n"


def test_template_atoms_are_counted_by_the_parser_not_by_line_prefixes(testdata):
    text = (testdata / "structures" / "1A7G.cif").read_text()
    lines = text.splitlines()
    atoms = [line for line in lines if line.startswith("ATOM")]
    rows = []
    for n in range(MAX_ATOMS + 1):
        fields = atoms[n % len(atoms)].split()
        shift = 1000 * (n // len(atoms))
        fields[1], fields[8], fields[16] = str(n + 1), str(int(fields[8]) + shift), str(int(fields[16]) + shift)
        rows.append(" " + " ".join(fields))  # a space first: legal mmCIF, invisible to a line-prefix count
    cif = "\n".join(lines[:lines.index(atoms[0])] + rows + ["#"]) + "\n"
    with pytest.raises(TemplateError, match=rf"^big.cif: more than {MAX_ATOMS:,} atoms, the most a template may have"):
        read_structure(cif, "big.cif")


def test_template_chains_are_capped_per_file():
    assert len(read_structure(_pdb_chains(MAX_CHAINS), "ok.pdb").chains) == MAX_CHAINS
    with pytest.raises(TemplateError, match=rf"^many.cif: more than {MAX_CHAINS} chains"):
        # mmCIF chain IDs are not limited to one character.
        read_structure(_mmcif_chains(MAX_CHAINS + 1), "many.cif")


def _mmcif_chains(count: int) -> str:
    rows = [f"ATOM {n + 1} C CA . ALA C{n} 1 1 ? {float(n):.3f} 0.000 0.000 1.00 0.00 ? 1 ALA C{n} CA 1"
            for n in range(count)]
    header = ["data_many", "loop_"] + [f"_atom_site.{field}" for field in (
        "group_PDB", "id", "type_symbol", "label_atom_id", "label_alt_id", "label_comp_id", "label_asym_id",
        "label_entity_id", "label_seq_id", "pdbx_PDB_ins_code", "Cartn_x", "Cartn_y", "Cartn_z", "occupancy",
        "B_iso_or_equiv", "pdbx_formal_charge", "auth_seq_id", "auth_comp_id", "auth_asym_id", "auth_atom_id",
        "pdbx_PDB_model_num")]
    return "\n".join(header + rows + ["#"]) + "\n"


def test_template_alignment_work_is_checked_before_any_chain_is_aligned(monkeypatch):
    calls = []
    monkeypatch.setattr(match, "align", lambda *args: calls.append(args) or (0.0, {}, 0))
    template = TemplateSpec(name="many.pdb", text=_pdb_chains(MAX_CHAINS))
    targets = {chr(65 + n): "MKVLAGGWWWSTPQ"[n % 14:] + "A" * n for n in range(20)}  # 20 distinct sequences
    with pytest.raises(TemplateError, match=r"aligned to the query chains 1,240 times .* at most 1,000 chain pairs"):
        match_templates([template], targets)
    assert calls == []


def test_identical_chains_are_aligned_once(testdata, monkeypatch):
    from alphafold_msa.structures.read import load_structure_text

    real, calls = match.align, []
    monkeypatch.setattr(match, "align", lambda *args: calls.append(args[:2]) or real(*args))
    text = load_structure_text(testdata / "structures" / "2rbg.pdb")
    chains = read_structure(text, "2rbg.pdb").chains
    query = chains["A"].sequence
    matches = match_templates([TemplateSpec("2rbg.pdb", text)], {cid: query for cid in "ABCDEF"})
    assert len(matches) == 2, "each template chain to one copy of the query chain"
    assert len(calls) == len({chain.sequence for chain in chains.values()}), "one alignment per distinct pair"


def test_paired_rows_are_featurized_within_the_job_memory_like_a_chains_rows(monkeypatch):
    from alphafold_msa.predict import prepare_input

    a, b = "MKVLAGGWWWSTPQRDEKLM", "NPQRSTVWYACDEFGHIKLM"
    rows = "".join(f">p{n}\n{a[:n % 20]}{'G' * (20 - n % 20)}{b}\n" for n in range(6_000))
    complex_msa = parse_input(f"#20,20\t1,1\n>101\t102\n{a}{b}\n{rows}")
    assert complex_msa.paired_rows == 6_000
    monkeypatch.setenv("ALPHAFOLD_MSA_JOB_MEMORY_GB", "0.01")
    prepared = prepare_input(complex_msa, JobSpec(complex_mode="ptm", models=(1,)), "monomer_ptm",
                             lambda message: None, model_config="reduced")
    featurized = prepared.summary["paired_rows"]
    assert 48 <= featurized < 6_000 and prepared.raw["msa"].shape[0] == featurized + 1
    assert prepared.summary["depth_note"].startswith("max_msa_depth lowered from 20,000 to")


def test_a_complex_of_many_chains_is_cut_by_columns_not_row_by_chain():
    letters = "ACDEFGHIKLMNPQRSTVWY"
    query = "".join(letters[n % 20] for n in range(62 * MIN_QUERY_LENGTH))  # 62 chains of the fewest residues
    head = "#" + ",".join([str(MIN_QUERY_LENGTH)] * 62) + "\t" + ",".join(["1"] * 62)
    text = f"{head}\n>q\n{query}\n" + f">p\n{query}\n" * 10_000
    peak, outcome = peak_bytes(lambda: parse_input(text))
    assert isinstance(outcome, ComplexMsa) and outcome.num_chains == 62 and outcome.paired_rows == 10_000
    # A tuple and a text per row and chain would add some 75 MB; reading by columns peaks below 50 MB.
    assert peak < 60_000_000


def test_lines_are_counted_and_blank_ones_hold_nothing(monkeypatch):
    blank = f">q\nMKVLA\n>h\nMKVLA\n{chr(10) * 2_000_000}".encode()
    peak, outcome = peak_bytes(lambda: parse_input(blank))
    assert isinstance(outcome, Msa) and outcome.depth == 2 and peak < 3_000_000
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_LINES", "1000")
    with pytest.raises(MsaTooLargeError, match=r"^input: more than 1,000 lines, the most one alignment file may "
                                               r"have \(ALPHAFOLD_MSA_MAX_LINES raises this limit\)"):
        parse_input(b"#\n" * 2_000 + b">q\nMKVLA\n", source="input")


def test_stockholm_annotations_count_against_the_header_and_row_limits(monkeypatch):
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_HEADER_CHARS", "100")
    many = "".join("#=GS q DE word\n" for _ in range(20))
    with pytest.raises(MsaTooLargeError, match=r"line 14: a header of 105 characters, over the 100 "):
        parse_input(f"# STOCKHOLM 1.0\n{many}q MKVLA\n//\n")
    monkeypatch.setenv("ALPHAFOLD_MSA_MAX_ROWS", "5")
    unseen = "".join(f"#=GS n{n} DE x\n" for n in range(10))
    with pytest.raises(MsaTooLargeError, match=r"line 7: more than 5 sequences"):
        parse_input(f"# STOCKHOLM 1.0\n{unseen}q MKVLA\n//\n")


def test_an_a2m_query_with_gaps_reads_as_the_same_alignment_in_aligned_fasta():
    a2m = parse_input(">q\nMK-VLA\n>h\nMKGVLA\n>h2\nMKaG-LA\n", format="a2m")
    fasta = parse_input(">q\nMK--VLA\n>h\nMK-GVLA\n>h2\nMKaG-LA\n", format="fasta")
    assert a2m.query_sequence == fasta.query_sequence == "MKVLA"
    np.testing.assert_array_equal(a2m.matrix, fasta.matrix)
    np.testing.assert_array_equal(a2m.deletions, fasta.deletions)


def test_a_complex_chain_whose_query_has_gaps_is_refused_in_one_line():
    query = "MKVLAGGWWWSTPQRDEKLMNPQRSTVWYA"
    with pytest.raises(MsaError, match=r"^input: line 2: the query of chain 2 has gaps in its 25 columns"):
        parse_input(f"#30,25\t1,1\n>101\t102\n{query}{'-' * 24}A\n", source="input")


def _chain_pdb(text: str) -> str:
    """The first chain of 2rbg.pdb's coordinates."""
    return "".join(line + "\n" for line in text.splitlines() if line.startswith("ATOM") and line[21] == "A")


def test_a_template_is_read_to_its_first_model_only(testdata):
    from alphafold_msa.structures.read import load_structure_text

    chain = _chain_pdb(load_structure_text(testdata / "structures" / "2rbg.pdb"))
    text = "MODEL        1\n" + chain + "ENDMDL\n" + "MODEL \n" * 200_000 + "END\n"
    peak, structure = peak_bytes(lambda: read_structure(text, "models.pdb"))
    assert list(structure.chains) == ["A"] and len(structure.model.get_parent()) == 1
    assert peak < 40_000_000, "one Model object per MODEL line would take some 300 MB"


def test_a_pdb_templates_header_is_not_parsed(testdata):
    from alphafold_msa.structures.read import load_structure_text

    chain = _chain_pdb(load_structure_text(testdata / "structures" / "2rbg.pdb"))
    structure = read_structure("COMPND    MOL_ID: 1;\nCOMPND   2 MOLECULE: X;\n" * 2_000 + chain, "header.pdb")
    assert list(structure.chains) == ["A"]
    assert structure.model.get_parent().header.get("compound", {}) in ({}, {"1": {"misc": ""}})
