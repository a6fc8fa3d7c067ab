"""Pairing a complex's chains by species: keys from row names and headers, AlphaFold-Multimer's rule
(cross-checked against `alphafold.data.msa_pairing`), --pairing/--pair-keys, reports, jobs, predictions."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from alphafold_msa.errors import ConfigError, MsaError
from alphafold_msa.launcher import cli
from alphafold_msa.launcher.inputs import read_checked
from alphafold_msa.launcher.options import LaunchOptions
from alphafold_msa.model.complex_features import concatenated_msa
from alphafold_msa.msa import assemble_complex, parse_input, read_msa
from alphafold_msa.msa.pairing import MAX_ROWS_PER_KEY, pair_complex, pair_rows, query_identity
from alphafold_msa.msa.species import chain_keys, read_pair_keys, row_key
from alphafold_msa.results.plots import coverage_row_order

AMINO = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
TAXA = {"9606": "HUMAN", "10090": "MOUSE", "7227": "DROME", "559292": "YEAST", "3702": "ARATH", "7955": "DANRE"}


@pytest.mark.parametrize("name, description, key", [
    ("COATB_BPIKE/30-81", "", "mnemonic:BPIKE"),
    ("CDC15_YEAST/25-272", "AC P27636.3", "mnemonic:YEAST"),
    ("sp|P69905|HBA_HUMAN", "Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2", "taxid:9606"),
    ("sp|P69905|HBA_HUMAN/1-142", "", "mnemonic:HUMAN"),
    ("tr|A0A146SKV9|A0A146SKV9_FUNHE", "", "mnemonic:FUNHE"),
    ("UniRef100_P69905", "Hemoglobin subunit alpha n=1 Tax=Homo sapiens TaxID=9606 RepID=HBA_HUMAN", "taxid:9606"),
    ("seq7", "my pairing key=complex_12 OX=9606", "key:complex_12"),
    ("UPI0005E84748", "109\t0.989\t3.950E-25\t0\t92\t93", ""),
    ("7BV2_A", "", ""),
    ("test1", "", ""),
    ("x", "OX=96O6", ""),
])
def test_species_keys_from_names_and_headers(name, description, key):
    assert row_key(name, description) == key


def test_uniprot_mnemonics_are_read_as_alphafold_reads_them():
    from alphafold.data.msa_identifiers import get_identifiers

    for name in ("sp|P0C2L1|A3X1_LOXLA", "tr|A0A146SKV9|A0A146SKV9_FUNHE", "sp|Q9Y2X3_1|NOP58_HUMAN",
                 "tr|A0A0B4J2F0|A0A0B4J2F0_9HYME/5-90", "sp|P69905|HBA_HUMAN_2"):
        assert row_key(name) == f"mnemonic:{get_identifiers(name).species_id}"


def test_jackhmmer_stockholm_descriptions_carry_taxonomy_ids():
    from alphafold_msa.msa import parse_msa

    text = ("# STOCKHOLM 1.0\n"
            "#=GS sp|P69905|HBA_HUMAN/1-142 DE [subseq from] Hemoglobin subunit alpha OS=Homo sapiens OX=9606\n"
            "#=GS tr|Q3TPW4|Q3TPW4_MOUSE/2-140 DE [subseq from] Hemoglobin OS=Mus musculus OX=10090 GN=Hba\n"
            "query                          MVLSPADKTNV\n"
            "sp|P69905|HBA_HUMAN/1-142      MVLSPADKTNV\n"
            "tr|Q3TPW4|Q3TPW4_MOUSE/2-140   MVLSGEDKSNI\n"
            "tr|A0A0B4J2F0|A0A0B4J2F0_9HYME/5-90 MVLS--DKANI\n//\n")
    msa = parse_msa(text)
    assert msa.description(2) == "DE [subseq from] Hemoglobin OS=Mus musculus OX=10090 GN=Hba"
    assert list(chain_keys(msa)) == ["", "taxid:9606", "taxid:10090", "mnemonic:9HYME"]


def _reference_pairs(chains, keys) -> np.ndarray:
    from alphafold.data import msa_pairing

    features = [_reference_features(chain, chain_key) for chain, chain_key in zip(chains, keys)]
    return msa_pairing.reorder_paired_rows(msa_pairing.pair_sequences(features))


def _reference_features(chain, keys) -> dict:
    return {"msa_all_seq": chain.matrix.astype(np.int32), "deletion_matrix_int_all_seq": chain.deletions,
            "msa_species_identifiers_all_seq": np.array([key.encode() for key in keys], dtype=object)}


def _signatures(rows: np.ndarray, keys, identities) -> list[tuple]:
    """Each paired row as (key, identity to each chain's query): what ties in identity cannot change."""
    return sorted((next(k[r] for k, r in zip(keys, row) if r > 0),
                   *(int(ident[r]) if r >= 0 else -1 for ident, r in zip(identities, row))) for row in rows[1:])


@pytest.mark.parametrize("files", [("Pkinase.sto", "RRM_1.sto"), ("RRM_1.sto", "fn3.sto"),
                                   ("Pkinase.sto", "RRM_1.sto", "fn3.sto")])
def test_pfam_alignments_pair_as_alphafold_multimer_pairs_them(testdata, files):
    chains = [read_msa(testdata / "pfam" / name) for name in files]
    keys = [chain_keys(chain) for chain in chains]
    identities = [query_identity(chain) for chain in chains]
    ours = pair_rows(keys, identities)
    reference = _reference_pairs(chains, keys)
    assert ours.rows.shape == reference.shape and ours.rows.shape[0] > 10
    assert list(ours.rows[0]) == [0] * len(files), "the queries are paired with each other"
    # The reference sorts with numpy's unstable quicksort, so rows tied in identity may trade places there.
    assert _signatures(ours.rows, keys, identities) == _signatures(reference, keys, identities)
    present = (ours.rows[1:] >= 0).sum(axis=1)
    assert list(present) == sorted(present, reverse=True), "rows spanning the most chains first"


def _mutant(query: np.ndarray, changes: int, rng) -> str:
    """`query` with `changes` positions changed to another residue."""
    row = query.copy()
    for position in rng.choice(len(query), size=min(changes, len(query)), replace=False):
        row[position] = rng.choice(AMINO[AMINO != row[position]])
    return "".join(row)


def _chain_fasta(rng, length: int, taxa: list[str], header) -> str:
    """An aligned FASTA chain: row i differs from the query at i positions, so no two rows tie in identity."""
    query = rng.choice(AMINO, size=length)
    rows = [f">query\n{''.join(query)}\n"]
    rows += [f">{header(i, taxid)}\n{_mutant(query, i, rng)}\n" for i, taxid in enumerate(taxa, start=1)]
    return "".join(rows)


def _uniprot(i: int, taxid: str) -> str:
    return f"sp|P{i:05d}|PRA{i}_{TAXA[taxid]} Protein A{i} OS=Some species OX={taxid} GN=pra PE=1 SV=1"


def _uniref(i: int, taxid: str) -> str:
    return f"UniRef100_Q{i:05d} Protein B{i} n=1 Tax=Some species TaxID={taxid} RepID=PRB{i}_{TAXA[taxid]}"


def _trembl(i: int, taxid: str) -> str:
    return f"tr|A0A{i:07d}|A0A{i:07d}_{TAXA[taxid]} Protein C{i} OX={taxid}"


@pytest.fixture(scope="module")
def written_headers(tmp_path_factory):
    """Three chains with UniProt, UniRef and TrEMBL headers (taxonomy ids); tie-free for the reference."""
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("headers")
    taxa = list(TAXA)
    layout = {"a.fasta": (70, _uniprot, rng.choice(taxa, size=45)),
              "b.fasta": (64, _uniref, rng.choice(taxa[:5], size=40)),
              "c.fasta": (58, _trembl, rng.choice(taxa[1:], size=30))}
    paths = []
    for name, (length, header, chosen) in layout.items():
        paths.append(folder / name)
        paths[-1].write_text(_chain_fasta(rng, length, list(chosen), header))
    return paths


def test_written_uniprot_and_uniref_headers_pair_exactly_as_the_reference(written_headers):
    from alphafold.data import msa_pairing

    chains = [read_msa(path) for path in written_headers]
    keys = [chain_keys(chain) for chain in chains]
    assert all(key.startswith("taxid:") for chain in keys for key in chain[1:])
    reference = _reference_pairs(chains, keys)
    products = np.abs(np.prod(reference, axis=1))
    spans = (reference >= 0).sum(axis=1)
    assert len(set(zip(spans, products))) == len(products), "no ties: the reference's order is deterministic"
    np.testing.assert_array_equal(pair_rows(keys, [query_identity(c) for c in chains]).rows, reference)
    assert (reference < 0).any() and (spans == 3).any(), "rows over all three chains and rows over two"

    paired = pair_complex(assemble_complex(chains))
    blocks = msa_pairing.create_paired_features([_reference_features(c, k) for c, k in zip(chains, keys)])
    for ours, theirs in zip(paired.paired, blocks):
        np.testing.assert_array_equal(ours.matrix, theirs["msa_all_seq"])
        np.testing.assert_array_equal(ours.deletions, theirs["deletion_matrix_int_all_seq"])
    assert paired.pairing.method == "species" and paired.paired_rows == len(reference) - 1
    for before, after, column in zip(chains, paired.chains, reference.T):
        assert after.depth == before.depth - len(set(column[column > 0])), "paired rows leave the unpaired block"
        assert after.names[0] == "query" and not set(after.names[1:]) & {before.names[r] for r in column if r > 0}


def test_keys_common_in_a_chain_are_skipped(tmp_path):
    rng = np.random.default_rng(3)
    common = _chain_fasta(rng, 40, ["9606"] * 3 + ["10090"] * 2, _uniprot)
    query = rng.choice(AMINO, size=40)
    many = [f">query\n{''.join(query)}\n"] + [f">{_uniref(i, '9606')}\n{_mutant(query, 5, rng)}\n"
                                             for i in range(1, MAX_ROWS_PER_KEY + 2)]
    many.append(f">{_uniref(900, '10090')}\n{_mutant(query, 3, rng)}\n")
    (tmp_path / "a.fasta").write_text(common)
    (tmp_path / "b.fasta").write_text("".join(many))
    chains = [read_msa(tmp_path / name) for name in ("a.fasta", "b.fasta")]
    paired = pair_complex(assemble_complex(chains))
    assert paired.pairing.keys_skipped == 1 and paired.pairing.shared_keys == 2
    assert paired.paired_rows == 1 and paired.paired[1].names[1].startswith("UniRef100_Q00900")
    assert f"1 key skipped for more than {MAX_ROWS_PER_KEY} rows" in paired.pairing.note


def launch_options(*argv: str) -> LaunchOptions:
    """The options launch.py makes of this command line."""
    return LaunchOptions.from_namespace(cli.build_parser().parse_args(argv))


def _check(capsys, *args: str) -> dict:
    assert cli.main(["--check", "--complex", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_check_reports_keys_shared_keys_and_paired_rows_of_pfam_chains(testdata, capsys):
    pfam = testdata / "pfam"
    summary = _check(capsys, "--msa", str(pfam / "Pkinase.sto"), "--msa", str(pfam / "RRM_1.sto"))
    pairing = summary["pairing"]
    assert pairing["method"] == "species" and summary["paired_rows"] == pairing["paired_rows"] == 27
    assert [(c["rows"], c["rows_with_key"], c["key_kinds"]) for c in pairing["chains"]] == \
        [(37, 37, {"mnemonic": 37}), (78, 78, {"mnemonic": 78})]
    assert pairing["shared_keys"] == 7 and "mnemonic:HUMAN" in pairing["example_keys"]
    assert pairing["note"].startswith("paired by species: 27 rows from 7 keys")
    assert summary["num_sequences"] == 28 + (38 - 1 - 27) + (79 - 1 - 27), \
        "the paired block (the queries' row and 27 pairs), then each chain's other rows, the query counted once"

    none = _check(capsys, "--msa", str(pfam / "Pkinase.sto"), "--msa", str(pfam / "RRM_1.sto"), "--pairing", "none")
    assert none["paired_rows"] == 0 and none["pairing"]["method"] == "none" and none["pairing"]["shared_keys"] == 7


@pytest.mark.parametrize("pairing, chain_a, chain_b", [
    ("species", "11 sequences; of the 37 rows read besides the query, 37 with a species key (mnemonic), 27 moved to "
                "the paired rows", "52 sequences; of the 78 rows read besides the query, 78 with a species key "
                                   "(mnemonic), 27 moved to the paired rows"),
    ("none", "38 sequences; of the 37 rows read besides the query, 37 with a species key (mnemonic))",
     "79 sequences; of the 78 rows read besides the query, 78 with a species key (mnemonic))"),
])
def test_the_summary_counts_species_keys_over_the_rows_it_names(testdata, pairing, chain_a, chain_b):
    from alphafold_msa.predict import prepare_input
    from alphafold_msa.protocol.spec import JobSpec
    from alphafold_msa.results.report import summary_text

    chains = [read_msa(testdata / "pfam" / name) for name in ("Pkinase.sto", "RRM_1.sto")]
    prepared = prepare_input(assemble_complex(chains), JobSpec.from_fields({"pairing": pairing}), "monomer_ptm",
                             lambda _: None)
    text = summary_text({**prepared.summary, "models": [], "total_s": 0.0, "kernels": "xla"})
    assert f"chain A: CDC15_YEAST/25-272 (248 residues, {chain_a}" in text
    assert f"chain B: GBP2_YEAST/221-291 (71 residues, {chain_b}" in text


def test_homodimer_is_not_paired_against_itself(testdata, capsys):
    rrm = str(testdata / "pfam" / "RRM_1.sto")
    for args in (("--copies", "2"), ("--copies", "2", "--pairing", "species"), ("--msa", rrm)):
        summary = _check(capsys, "--msa", rrm, *args)
        assert summary["chain_ids"] == ["A", "B"] and summary["paired_rows"] == 0
        assert summary["pairing"]["note"].startswith("the chains are copies of one sequence (a homomer), which "
                                                     "AlphaFold-Multimer does not pair with itself")


def test_an_alignment_without_keys_stays_unpaired_and_says_so(testdata, capsys):
    summary = _check(capsys, "--msa", str(testdata / "pfam" / "20aa-alitest.afa"),
                     "--msa", str(testdata / "pfam" / "globins4.sto"))
    pairing = summary["pairing"]
    assert pairing["method"] == "none" and summary["paired_rows"] == 0
    assert [c["rows_with_key"] for c in pairing["chains"]] == [0, 3]
    assert pairing["note"].startswith("chains unpaired: block-diagonal MSA (no species keys in the row names or "
                                      "headers of chain A (test1)")
    assert "chains unpaired: block-diagonal MSA" in pairing["note"]


def test_keys_of_different_kinds_never_match(testdata, written_headers, capsys):
    summary = _check(capsys, "--msa", str(written_headers[0]), "--msa", str(testdata / "pfam" / "fn3.sto"))
    pairing = summary["pairing"]
    assert pairing["method"] == "species" and pairing["paired_rows"] == 0 and pairing["shared_keys"] == 0
    assert "keys of different kinds, which never match (chain A: NCBI taxonomy ids" in pairing["note"]


def test_key_file_and_header_keys_pair_rows_whose_names_carry_nothing(tmp_path, capsys):
    (tmp_path / "a.fasta").write_text(">qa\nMKVLAAGIVG\n>a1\nMKVLAAGIVA\n>a2\nMKVLSAGIVA\n>a3\nMKVLSAGLVA\n")
    (tmp_path / "b.fasta").write_text(">qb\nPEPTIDEK\n>b1 key=Homo_sapiens\nPEPTIDER\n>b2\nPEPSIDER\n"
                                      ">b3 key=Mus_musculus\nPEPSIEER\n")
    keys = tmp_path / "keys.tsv"
    keys.write_text("# row\tkey\na2\tHomo sapiens\na3\tMus musculus\nb2\tDanio rerio\n")
    assert read_pair_keys(keys) == {"a2": "Homo_sapiens", "a3": "Mus_musculus", "b2": "Danio_rerio"}
    args = ("--msa", str(tmp_path / "a.fasta"), "--msa", str(tmp_path / "b.fasta"))
    summary = _check(capsys, *args, "--pair-keys", str(keys))
    pairing = summary["pairing"]
    assert pairing["method"] == "species" and pairing["paired_rows"] == 2
    assert [c["key_kinds"] for c in pairing["chains"]] == [{"key": 2}, {"key": 3}]
    assert _check(capsys, *args)["pairing"]["method"] == "none", "without the file only one chain has keys"

    paired = read_checked(launch_options("--complex", *args, "--pair-keys", str(keys)))
    assert [paired.paired[0].names[1:], paired.paired[1].names[1:]] == [["a2", "a3"], ["b1", "b3"]]
    assert paired.chains[0].names == ["qa", "a1"] and paired.chains[1].names == ["qb", "b2"]


@pytest.mark.parametrize("extra, message", [
    (["--pairing", "file"], "pairing 'file' needs paired rows: give the paired alignment (--paired FILE)"),
    (["--pairing", "species", "--paired", "{data}/3G5O_A.paired.a3m", "--paired", "{data}/3G5O_B.paired.a3m"],
     "pairing 'species' pairs the chains' own rows, but paired rows were given"),
    (["--pair-keys", "{tmp}/bad.tsv"], "bad.tsv: line 2: expected 'row name<TAB>key', found 'lonely'"),
    (["--pair-keys", "{tmp}/other.tsv"], "none of the 1 row names in the pairing keys (e.g. 'nobody') is a row of"),
    (["--pair-keys", "{tmp}/other.tsv", "--pairing", "none"], "none of the 1 row names"),
    (["--pair-keys", "{tmp}/missing.tsv"], "missing.tsv: cannot read the pairing keys"),
    (["--pair-keys", "{tmp}/real.tsv", "--pairing", "none"], "pairing keys (--pair-keys) serve pairing by species"),
])
def test_pairing_errors_are_one_line_and_exit_2(testdata, tmp_path, capsys, extra, message):
    (tmp_path / "bad.tsv").write_text("a\tb\nlonely\n")
    (tmp_path / "other.tsv").write_text("nobody\tHomo sapiens\n")
    (tmp_path / "real.tsv").write_text("UPI0005E84748\tHomo sapiens\n")
    data = testdata / "colabfold"
    args = [part.format(data=data, tmp=tmp_path) for part in extra]
    code = cli.main(["--check", "--complex", "--msa", str(data / "3G5O_A.a3m"), str(data / "3G5O_B.a3m"), *args])
    error = capsys.readouterr().err
    assert code == 2 and message in error and error.count("\n") == 1, error


def test_paired_files_imply_pairing_file(testdata, capsys):
    data = testdata / "colabfold"
    summary = _check(capsys, "--msa", str(data / "3G5O_A.a3m"), "--msa", str(data / "3G5O_B.a3m"),
                     "--paired", str(data / "3G5O_A.paired.a3m"), "--paired", str(data / "3G5O_B.paired.a3m"))
    assert summary["pairing"]["method"] == "file" and summary["pairing"]["note"] == "14 paired rows as given"


def test_a_job_carries_the_chains_unpaired_and_pairs_them_the_same_way(testdata, tmp_path):
    from alphafold_msa.launcher.remote import job_input
    from alphafold_msa.protocol.schema import JobInputError
    from alphafold_msa.protocol.spec import JobSpec, parse_job

    pfam = testdata / "pfam"
    keys = tmp_path / "keys.tsv"
    keys.write_text("HBA_HUMAN\tkinase-partner\nCDC15_YEAST/25-272\tignored-query\nKIN28_YEAST\tkinase-partner\n")
    options = launch_options("--complex", "--msa", str(pfam / "Pkinase.sto"), str(pfam / "globins4.sto"),
                             "--pair-keys", str(keys))
    client = read_checked(options)
    fields = job_input(options.job_spec(), pfam / "Pkinase.sto", client)
    spec, _ = parse_job(fields)
    # Pairing by species was the default here; the worker's default is the same, from the keys in the headers.
    assert spec.pairing is None and client.pairing.method == "species" and "key=kinase-partner" in fields["msa"]
    worker = pair_complex(parse_input(fields["msa"]), spec.pairing)
    assert worker.paired_rows == client.paired_rows == 1, "the key file's key, not HBA_HUMAN's mnemonic"
    assert [block.names[1] for block in client.paired] == ["KIN28_YEAST/7-290", "HBA_HUMAN"]
    for ours, theirs in [*zip(client.paired, worker.paired), *zip(client.chains, worker.chains)]:
        np.testing.assert_array_equal(ours.matrix, theirs.matrix)
        assert ours.names[1:] == theirs.names[1:]
    assert worker.pairing.to_dict() == client.pairing.to_dict() | {"chains": worker.pairing.to_dict()["chains"]}
    chains = [read_msa(pfam / "Pkinase.sto"), read_msa(pfam / "globins4.sto")]
    assert ">BYR2_SCHPO/394-658 AC P28829.1\n" in assemble_complex(chains).to_colabfold_a3m(), "keys may be there"
    assert ">BYR2_SCHPO/394-658\n" in pair_complex(assemble_complex(chains), "none").to_colabfold_a3m()
    with pytest.raises(JobInputError, match="input.pairing: 'pairs' is not one of"):
        JobSpec.from_fields({"pairing": "pairs"})


def test_ptm_complex_alignment_uses_the_same_paired_block(testdata):
    chains = [read_msa(testdata / "pfam" / name) for name in ("Pkinase.sto", "RRM_1.sto")]
    paired = pair_complex(assemble_complex(chains, copies=[1, 2]))
    joined = concatenated_msa(paired)
    a, b = paired.paired
    np.testing.assert_array_equal(joined.matrix[1:28], np.concatenate([a.matrix, b.matrix, b.matrix], axis=1)[1:])
    assert joined.depth == 1 + 27 + (paired.chains[0].depth - 1) + 2 * (paired.chains[1].depth - 1)


def test_coverage_plot_keeps_the_paired_block_at_the_bottom():
    identity = np.array([1.0, 0.2, 0.9, 0.5, 0.95, 0.1])
    assert coverage_row_order(identity, 3).tolist() == [0, 2, 1, 4, 3, 5]
    assert coverage_row_order(identity).tolist() == [0, 4, 2, 3, 1, 5]


def test_paired_prediction_records_the_pairing(reduced_weights, runners, tmp_path):
    from alphafold_msa.predict import run_prediction

    rng = np.random.default_rng(11)
    for name, length, header in (("a.fasta", 26, _uniprot), ("b.fasta", 20, _uniref)):
        (tmp_path / name).write_text(_chain_fasta(rng, length, ["9606", "10090", "7227", "9606", "3702"], header))
    chains = [read_msa(tmp_path / name) for name in ("a.fasta", "b.fasta")]
    # 46 residues, as test_complex.py's unpaired trimer: one compilation serves both
    job_text = pair_complex(assemble_complex(chains)).to_colabfold_a3m()
    result = run_prediction(parse_input(job_text), tmp_path / "out", reduced_weights, model_config="reduced",
                            models=[1], num_recycle=0, pairing="species", runners=runners)
    summary = json.loads(result.summary_path.read_text())
    assert summary["paired_rows"] == 5 and summary["pairing"]["method"] == "species"
    assert [c["rows_with_key"] for c in summary["pairing"]["chains"]] == [5, 5]
    text = result.summary_path.with_suffix(".txt").read_text()
    assert ("pairing: species; paired by species: 5 rows from 4 keys found in at least two chains "
            "(e.g. taxid:10090") in text
    assert "5 with a species key (taxid)" in text and (tmp_path / "out" / "coverage.png").is_file()
    with pytest.raises(ConfigError, match="already paired by 'species', not 'none'"):
        run_prediction(pair_complex(assemble_complex(chains)), tmp_path / "again", reduced_weights,
                       model_config="reduced", models=[1], pairing="none", runners=runners)


def test_unknown_pairing_method_is_refused(testdata):
    chains = [read_msa(testdata / "pfam" / name) for name in ("RRM_1.sto", "globins4.sto")]
    with pytest.raises(MsaError, match="pairing 'tax' is not one of species, none, file"):
        pair_complex(assemble_complex(chains), "tax")
    assert Counter(chain_keys(chains[1])[1:]) == Counter({"mnemonic:HUMAN": 1, "mnemonic:PHYCA": 1,
                                                         "mnemonic:PETMA": 1})


def test_remote_submission_says_how_the_chains_were_paired(testdata, tmp_path, capsys, monkeypatch):
    from endpoint_emulator import EndpointEmulator, Reply

    monkeypatch.setenv("RUNPOD_API_KEY", "key")
    pdb = "ATOM      1  N   MET A   1       0.000   0.000   0.000  1.00 80.00           N  \nEND\n"
    with EndpointEmulator() as emulator:
        emulator.status_replies = [Reply(200, {"id": "job-123", "status": "COMPLETED", "output": {
            "structure": pdb, "structure_format": "pdb", "model": "model_1_multimer_v3", "mean_plddt": 80.0,
            "ptm": 0.5, "max_pae": 3.0, "plddt": [80.0]}})]
        pfam = testdata / "pfam"
        code = cli.main(["--complex", "--msa", str(pfam / "Pkinase.sto"), str(pfam / "RRM_1.sto"), "--output",
                         str(tmp_path / "x.pdb"), "--endpointId", "ep1", "--api-url", emulator.url,
                         "--poll-interval", "0.05"])
    error = capsys.readouterr().err
    assert code == 0, error
    assert "27 paired rows; pairing: paired by species: 27 rows from 7 keys" in error
    job = emulator.requests[0]["body"]["input"]
    # Paired by species by default, here and on the worker: the job carries the rows with their headers.
    assert "pairing" not in job and ">BYR2_SCHPO/394-658 AC P28829.1\n" in job["msa"]
    assert pair_complex(parse_input(job["msa"])).paired_rows == 27


def test_a_remote_complex_left_unpaired_by_default_says_why_on_the_worker(testdata, tmp_path):
    from alphafold_msa.launcher.remote import job_input
    from alphafold_msa.protocol.spec import parse_job

    paths = [testdata / "colabfold" / "6A5J.a3m", testdata / "pfam" / "20aa-alitest.afa"]
    options = launch_options("--complex", "--msa", *map(str, paths))
    client = read_checked(options)
    job = job_input(options.job_spec(), paths[0], client)
    spec, _ = parse_job(job)
    assert "pairing" not in job and spec.pairing is None, "the default is the worker's to apply"
    worker = pair_complex(parse_input(job["msa"]), spec.pairing)
    assert worker.pairing.method == client.pairing.method == "none"
    assert "(no species keys in the row names or headers of chain A" in worker.pairing.note
    assert "(pairing 'none')" not in worker.pairing.note
