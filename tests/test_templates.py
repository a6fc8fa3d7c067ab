"""Custom templates: reading real structures, aligning them to the query, features, and predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import gz_b64

from alphafold_msa.errors import TemplateError
from alphafold_msa.protocol.spec import TemplateSpec
from alphafold_msa.structures.match import MAX_TEMPLATES, identity_floor, match_templates, parse_template_argument
from alphafold_msa.structures.read import MAX_ATOMS, load_structure_text, read_structure

# 1A7G.cif's one protein chain (author chain E) and 2rbg.pdb's chains A and B as observed (MSE read as M).
QUERY_1A7G = "ATTPIIHLKGDANILKCLRYRLSKYKQLYEQVSSTWHWTCTDGKHKNAIVTLTYISTSQRDDFLNTVVIPNTVSVSTGYMTI"
CHAIN_2RBG = ("YKNILTLISVNNDNFENYFRKIFLDVRSSGSKKTTINVFTEIQYQELVTLIREALLENIDIGYELFLWKKNEVDIFLKNLEKSEVDGLLVYCDDEN"
              "KVFMSKIVDNLPTAIKRNLIKDFCRKLS")


@pytest.fixture(scope="module")
def cif_text(testdata) -> str:
    return load_structure_text(testdata / "structures" / "1A7G.cif")


@pytest.fixture(scope="module")
def pdb_text(testdata) -> str:
    return load_structure_text(testdata / "structures" / "2rbg.pdb")


def _atom(serial: int, name: str, resname: str, chain: str, number: int, xyz=(0.0, 0.0, 0.0), altloc: str = " ",
          occupancy: float = 1.0, record: str = "ATOM") -> str:
    return (f"{record:<6}{serial:>5} {name:<4}{altloc}{resname:>3} {chain}{number:>4}    "
            f"{xyz[0]:>8.3f}{xyz[1]:>8.3f}{xyz[2]:>8.3f}{occupancy:>6.2f} 20.00           {name[0]}\n")


def test_real_structures_are_read_with_modified_residues_mapped_and_waters_ignored(cif_text, pdb_text):
    cif = read_structure(cif_text, "1A7G.cif")
    assert cif.format == "cif" and list(cif.chains) == ["E"] and cif.chains["E"].sequence == QUERY_1A7G
    pdb = read_structure(pdb_text, "2rbg.pdb")
    assert list(pdb.chains) == ["A", "B"] and pdb.chains["A"].sequence == CHAIN_2RBG
    assert "MSE" in pdb.chains["A"].residue_names, "selenomethionine kept, read as its parent methionine"
    assert all(name != "HOH" for name in pdb.chains["A"].residue_names)


def test_features_equal_the_forks_own_featurization(cif_text):
    from alphafold.data import mmcif_parsing
    from alphafold.data import templates as af_templates

    from alphafold_msa.model.templates import monomer_templates

    match, = match_templates([TemplateSpec("1A7G.cif", cif_text)], {"A": QUERY_1A7G})
    ours = monomer_templates([match], QUERY_1A7G)
    parsed = mmcif_parsing.parse(file_id="1a7g", mmcif_string=cif_text).mmcif_object
    seqres = parsed.chain_to_seqres["E"]
    theirs, _ = af_templates._extract_template_features(parsed, "1a7g", match.mapping, seqres, QUERY_1A7G, "E", "")
    for key in ("template_all_atom_positions", "template_all_atom_masks", "template_aatype"):
        np.testing.assert_array_equal(ours[key][0], np.asarray(theirs[key], np.float32), err_msg=key)
    assert ours["template_all_atom_masks"].sum() == 658, "every observed protein atom of 1A7G is placed"


def test_identical_mutated_and_partial_queries(cif_text):
    template = TemplateSpec("1A7G.cif", cif_text)
    same, = match_templates([template], {"A": QUERY_1A7G})
    assert (same.aligned, same.identity, same.query_range) == (82, 1.0, (1, 82))
    assert same.mapping == {i: i for i in range(82)}
    mutant = QUERY_1A7G[:30] + "W" + QUERY_1A7G[31:]
    point, = match_templates([template], {"A": mutant})
    assert point.aligned == 82 and point.identical == 81
    part, = match_templates([template], {"A": QUERY_1A7G[20:60]})
    assert part.mapping == {i: i + 20 for i in range(40)}
    assert part.record() == {"file": "1A7G.cif", "chain": "E", "aligned_residues": 40, "identity": 1.0,
                             "query_range": [1, 40]}
    longer, = match_templates([template], {"A": "W" * 30 + QUERY_1A7G[:50]})
    assert longer.query_range == (31, 80) and longer.aligned == 50


def test_two_chain_pdb_for_a_complex_with_explicit_and_automatic_assignment(pdb_text, cif_text):
    targets = {"A": CHAIN_2RBG, "B": QUERY_1A7G}
    explicit = match_templates([TemplateSpec("2rbg.pdb", pdb_text, chain="B", query_chain="A"),
                                TemplateSpec("1A7G.cif", cif_text, query_chain="B")], targets)
    assert [(m.index, m.chain, m.query_chain) for m in explicit] == [(0, "B", "A"), (1, "E", "B")]
    homodimer = match_templates([TemplateSpec("2rbg.pdb", pdb_text)], {"A": CHAIN_2RBG, "B": CHAIN_2RBG})
    assert [(m.chain, m.query_chain) for m in homodimer] == [("A", "A"), ("B", "B")]


def test_multimer_and_ptm_complex_features_place_each_template_chain(pdb_text):
    from alphafold_msa.model.templates import multimer_templates, ptm_complex_templates

    matches = match_templates([TemplateSpec("2rbg.pdb", pdb_text)], {"A": CHAIN_2RBG, "B": CHAIN_2RBG})
    per_chain = multimer_templates(matches, ["A", "B"], [CHAIN_2RBG, CHAIN_2RBG])
    assert set(per_chain) == {"A", "B"} and per_chain["A"]["template_aatype"].shape == (1, 124, 22)
    joined = ptm_complex_templates(matches, ["A", "B"], [CHAIN_2RBG, CHAIN_2RBG])
    assert joined["template_all_atom_positions"].shape == (1, 248, 37, 3)
    np.testing.assert_array_equal(joined["template_all_atom_positions"][0, 124:],
                                  per_chain["B"]["template_all_atom_positions"][0])


def test_first_alternate_location_is_used():
    lines = [_atom(1, "N", "GLY", "A", 1, (0, 0, 0)), _atom(2, "CA", "GLY", "A", 1, (1.4, 0, 0), "A", 0.3),
             _atom(3, "CA", "GLY", "A", 1, (9.0, 9, 9), "B", 0.7), _atom(4, "C", "GLY", "A", 1, (2.0, 1.2, 0))]
    structure = read_structure("".join(lines) + "END\n", "altloc.pdb")
    atom = structure.model["A"][(" ", 1, " ")]["CA"]
    assert tuple(atom.get_coord()) == pytest.approx((1.4, 0, 0)), "first altloc, not the most occupied"


@pytest.mark.parametrize("text, name, message", [
    ("just some words\n", "notes.txt", "not a PDB or mmCIF structure"),
    ("data_x\n_cell.length_a 1\n", "empty.cif", "notes"),
    ("".join(_atom(i, "P", "DA", "A", i) for i in range(1, 4)), "dna.pdb", "only nucleic acid chains"),
    (_atom(1, "C1", "HEM", "A", 1, record="HETATM"), "ligand.pdb", "no protein chain"),
    ("".join(_atom(i % 99_999 + 1, "CA", "ALA", "A", i % 9999 + 1) for i in range(MAX_ATOMS + 1)), "big.pdb",
     "more than MAX atoms"),
])
def test_hostile_structures_are_refused_naming_the_file(text, name, message):
    with pytest.raises(TemplateError) as error:
        read_structure(text, name)
    assert str(error.value).startswith(name) and "\n" not in str(error.value)
    if message != "notes":
        assert message.replace("MAX", f"{MAX_ATOMS:,}") in str(error.value)


def test_ca_only_model_is_accepted_with_a_warning():
    text = "".join(_atom(i, "CA", "ALA", "A", i, (3.8 * i, 0, 0)) for i in range(1, 30))
    structure = read_structure(text, "trace.pdb")
    assert structure.chains["A"].ca_only and "only CA atoms" in structure.warnings[0]


def test_bad_matches_are_refused_naming_the_file(cif_text, pdb_text):
    template = TemplateSpec("1A7G.cif", cif_text)
    with pytest.raises(TemplateError, match=r"^1A7G.cif: chain E overlaps the query too little"):
        match_templates([template], {"A": "ACDEFGHIKLMNPQRSTVWY" * 3})
    with pytest.raises(TemplateError, match=r"^2rbg.pdb: no protein chain 'C'; its protein chains are A, B"):
        match_templates([TemplateSpec("2rbg.pdb", pdb_text, chain="C")], {"A": CHAIN_2RBG})
    with pytest.raises(TemplateError, match="the query is a single chain"):
        match_templates([TemplateSpec("2rbg.pdb", pdb_text, query_chain="A")], {"A": CHAIN_2RBG})
    with pytest.raises(TemplateError, match=f"at most {MAX_TEMPLATES}"):
        match_templates([template] * (MAX_TEMPLATES + 1), {"A": QUERY_1A7G})
    assert identity_floor(40) == pytest.approx(0.474, abs=0.01) and identity_floor(1000) == identity_floor(250) < 0.22


def test_template_argument_forms(tmp_path):
    odd = tmp_path / "model:v2@final.pdb"
    odd.write_text("")
    assert parse_template_argument(str(odd)) == (str(odd), None, None)
    assert parse_template_argument("x.pdb:B@A") == ("x.pdb", "B", "A")
    assert parse_template_argument("x.cif:E") == ("x.cif", "E", None)
    with pytest.raises(TemplateError, match="expected FILE"):
        parse_template_argument("x.pdb:@A")


def test_a_template_reaches_the_network_of_the_models_that_use_it(testdata, reduced_weights, runners, tmp_path,
                                                                  cif_text):
    from alphafold_msa.msa import from_sequences
    from alphafold_msa.predict import run_prediction

    # 16 residues of 1A7G's chain, the length bucket the template-free tests compile too.
    query = QUERY_1A7G[30:46]
    msa = from_sequences([query, query[:8] + "AAAA" + query[12:], "GG" + query[2:]])
    options = dict(model_config="reduced", models=[1], num_recycle=0, runners=runners)
    plain = run_prediction(msa, tmp_path / "plain", reduced_weights, **options)
    messages = []
    templated = run_prediction(msa, tmp_path / "templated", reduced_weights, progress=messages.append,
                               templates=[TemplateSpec("1A7G.cif", cif_text)], **options)
    assert plain.best.structure_path.read_text() != templated.best.structure_path.read_text()
    summary = json.loads(templated.summary_path.read_text())
    assert summary["template_models"] == ["model_1_ptm"]
    assert summary["templates"] == [{"file": "1A7G.cif", "chain": "E", "aligned_residues": 16, "identity": 1.0,
                                     "query_range": [1, 16]}]
    assert "templates are used by model_1_ptm" in messages
    text = (templated.output_dir / "summary.txt").read_text()
    assert "templates (used by model_1_ptm):" in text
    assert "1A7G.cif chain E -> residues 1-16: 16 aligned, 100.0% identical" in text
    assert "template" not in json.loads(plain.summary_path.read_text())


def test_worker_job_with_a_gzipped_template(worker_env, cif_text):
    from alphafold_msa.worker.handler import handle_job

    query = QUERY_1A7G[30:46]
    msa = f">q\n{query}\n>h\n{query[:8]}AAAA{query[12:]}\n>g\nGG{query[2:]}\n"
    entry = TemplateSpec("1A7G.cif", cif_text, format="cif", chain="E").to_field()
    entry["structure"] = {"encoding": "gzip+base64", "data": gz_b64(cif_text.encode())}
    output = handle_job({"id": "t", "input": {"msa": msa, "models": [1], "num_recycle": 0, "templates": [entry]}})
    assert output["msa"]["templates"][0]["aligned_residues"] == 16, output.get("error")
    assert output["msa"]["template_models"] == ["model_1_ptm"]
    bad = handle_job({"id": "t", "input": {"msa": ">q\nACDEFGHIKLMNPQRSTVWY\n", "templates": [entry]}})
    assert bad["error"].startswith("1A7G.cif: chain E overlaps the query too little")


def test_multimer_features_carry_each_chains_template(pdb_text):
    from alphafold_msa.model.complex_features import build_multimer_features
    from alphafold_msa.model.templates import multimer_templates
    from alphafold_msa.msa import assemble_complex, from_sequences
    from alphafold_msa.structures.match import query_targets

    dimer = assemble_complex([from_sequences([CHAIN_2RBG, CHAIN_2RBG[:60] + "A" * 64])], [2])
    matches = match_templates([TemplateSpec("2rbg.pdb", pdb_text)], query_targets(dimer))
    per_chain = multimer_templates(matches, dimer.chain_ids, dimer.sequences)
    raw = build_multimer_features(dimer, per_chain)
    masks = raw["template_all_atom_mask"]
    assert raw["template_all_atom_positions"].shape == (4, 248, 37, 3) and masks.shape == (4, 248, 37)
    assert masks[0, :124].sum() == per_chain["A"]["template_all_atom_masks"].sum() > 900
    assert masks[0, 124:].sum() == per_chain["B"]["template_all_atom_masks"].sum() > 900
    assert not masks[1:].any(), "one template, padded to AlphaFold-Multimer's four"


def test_covered_ranges_span_the_whole_complex_and_shade_the_plddt_plot(pdb_text, tmp_path):
    from alphafold_msa.msa import assemble_complex, from_sequences
    from alphafold_msa.results.input_summary import covered_ranges
    from alphafold_msa.results.plots import plot_plddt
    from alphafold_msa.structures.match import query_targets

    dimer = assemble_complex([from_sequences(["MKV" + CHAIN_2RBG[:100]])], [2])
    matches = match_templates([TemplateSpec("2rbg.pdb", pdb_text)], query_targets(dimer))
    assert covered_ranges(matches, dimer) == [(4, 103), (107, 206)]
    plot = plot_plddt(["model"], [np.full(206, 70.0)], tmp_path / "plddt.png", [103],
                      covered=covered_ranges(matches, dimer))
    assert plot.stat().st_size > 1000


def test_job_templates_are_decoded_within_bounds():
    from alphafold_msa.protocol.schema import MAX_STRUCTURE_BYTES, JobInputError
    from alphafold_msa.protocol.spec import parse_job

    def job(structure) -> dict:
        return {"msa": ">q\nMKV\n", "templates": [{"name": "t.pdb", "structure": structure}]}

    packed = gz_b64(b"ATOM" * 100)
    spec, _ = parse_job(job({"encoding": "gzip+base64", "data": packed}))
    assert spec.templates[0].text == "ATOM" * 100
    bomb = gz_b64(b" " * (MAX_STRUCTURE_BYTES + 1))
    with pytest.raises(JobInputError,
                       match=rf"^input.templates.0.structure: larger than {MAX_STRUCTURE_BYTES:,} bytes"):
        parse_job(job({"encoding": "gzip+base64", "data": bomb}))
    with pytest.raises(JobInputError, match=r"^input.templates.0.structure: not valid gzip\+base64"):
        parse_job(job({"encoding": "gzip+base64", "data": "bm90IGd6aXA="}))
    with pytest.raises(JobInputError, match=r"^input.templates: .* is too long"):
        parse_job({"msa": ">q\nMKV\n", "templates": [{"name": "t.pdb", "structure": "x"}] * 5})


def test_insertion_codes_stay_in_file_order():
    residues = [(10, " ", "GLY"), (10, "A", "ALA"), (10, "B", "SER"), (11, " ", "TRP")]
    text = "".join(_atom(i + 1, "CA", name, "A", number, (3.8 * i, 0, 0))[:26] + icode
                   + _atom(i + 1, "CA", name, "A", number, (3.8 * i, 0, 0))[27:]
                   for i, (number, icode, name) in enumerate(residues))
    chain = read_structure(text, "inserted.pdb").chains["A"]
    assert chain.sequence == "GASW"
    assert [residue_id[1:] for residue_id in chain.residue_ids] == [(10, " "), (10, "A"), (10, "B"), (11, " ")]


def test_the_run_says_which_models_read_templates(cif_text):
    from alphafold_msa.predict import _report_templates
    from alphafold_msa.results.input_summary import template_summary

    match, = match_templates([TemplateSpec("1A7G.cif", cif_text)], {"A": QUERY_1A7G})
    for models, preset, expected in [
        ([3, 4], "monomer_ptm", "templates are used by none of the models asked for; models 3, 4 were trained "
                                "without templates and run without them"),
        ([1, 5], "monomer", "templates are used by model_1; model 5 was trained without templates and run "
                            "without them"),
        ([2, 5], "multimer", "templates are used by model_2_multimer_v3, model_5_multimer_v3"),
    ]:
        messages = []
        _report_templates(template_summary([match], models, preset), models, preset, messages.append)
        assert messages[-1] == expected
