"""The job contract as a unit: JobSpec built from fields and from a job's input, its one validation, the
payloads, and the keyword form run_prediction keeps for library users."""

from __future__ import annotations

import base64
import gzip

import pytest

from alphafold_msa.protocol.payload import PayloadError, decode_payload, encode_payload, payload_bytes
from alphafold_msa.protocol.schema import DEFAULTS, INLINE_TEXT_BYTES, MAX_STRUCTURE_BYTES, JobInputError
from alphafold_msa.protocol.spec import JobAlignment, JobSpec, TemplateSpec, parse_job


def gz_b64(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode())).decode()


def test_a_spec_round_trips_through_its_fields_with_the_schema_s_defaults_left_out():
    spec = JobSpec.from_fields({"models": [1, 3], "num_recycle": 1.0, "formats": ["pdb", "cif"], "relax": "none",
                                "pairing": "species", "templates": [{"name": "t.pdb", "structure": "ATOM"}]})
    assert spec.models == (1, 3) and spec.num_recycle == 1 and isinstance(spec.num_recycle, int)
    assert spec.templates == (TemplateSpec("t.pdb", "ATOM"),)
    fields = spec.to_fields()
    assert fields == {"models": [1, 3], "num_recycle": 1, "formats": ["pdb", "cif"], "relax": "none",
                      "pairing": "species", "templates": [{"name": "t.pdb",
                                                           "structure": {"encoding": "text", "data": "ATOM"}}]}
    assert JobSpec.from_fields(fields) == spec
    assert spec.replace(num_seeds=3).num_seeds == 3 and spec.replace(num_seeds=3).models == (1, 3)
    assert JobSpec().predictions == len(DEFAULTS["models"]) and spec.replace(num_seeds=2).predictions == 4


@pytest.mark.parametrize("fields, message", [
    ({"models": [7]}, "input.models.0: 7 is greater than the maximum of 5"),
    ({"num_seeds": 0}, "input.num_seeds: 0 is less than the minimum of 1"),
    ({"relax": "sometimes"}, "input.relax: 'sometimes' is not one of"),
    ({"msa": ">q\nM\n"}, "input: Additional properties are not allowed ('msa' was unexpected)"),
    ({"templates": [{"name": "t.pdb", "structure": 3}]}, "input.templates.0.structure: expected string or object"),
    ({"recycle_early_stop_tolerance": float("nan")}, "input.recycle_early_stop_tolerance: nan is not a finite"),
])
def test_a_spec_is_checked_once_against_the_schema_one_line_per_field(fields, message):
    with pytest.raises(JobInputError) as refused:
        JobSpec.from_fields(fields)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_a_job_s_alignment_comes_in_any_of_its_forms_as_the_bytes_it_was_sent():
    text = ">q\nMKVLA\n"
    packed = gzip.compress(text.encode())
    forms = {"msa": text, "msa_gz_b64": base64.b64encode(packed).decode(),
             "msa_url": "https://example.org/family.a3m"}
    assert parse_job({"msa": forms["msa"]})[1] == JobAlignment("msa", data=text.encode())
    assert parse_job({"msa_gz_b64": forms["msa_gz_b64"]})[1] == JobAlignment("msa_gz_b64", data=packed)
    assert parse_job({"msa": {"encoding": "gzip+base64", "data": forms["msa_gz_b64"]}})[1].data == packed
    assert parse_job({"msa": {"encoding": "text", "data": text}})[1].data == text.encode()
    assert parse_job({"msa_url": forms["msa_url"]})[1] == JobAlignment("msa_url", url=forms["msa_url"])
    with pytest.raises(JobInputError, match=r"^input: give the alignment as exactly one of"):
        parse_job({"msa": text, "msa_url": forms["msa_url"]})
    with pytest.raises(JobInputError, match=r"^input.msa_gz_b64: not valid gzip\+base64 data \(no gzip header\)"):
        parse_job({"msa_gz_b64": base64.b64encode(b"plain text").decode()})


def test_payloads_have_one_encoding_and_one_decoder():
    small, large = "x" * 10, "ACDEFGHIKL" * (INLINE_TEXT_BYTES // 5)
    assert encode_payload(small) == {"encoding": "text", "data": small}
    assert encode_payload(large)["encoding"] == "gzip+base64"
    assert decode_payload(encode_payload(small)) == small and decode_payload(encode_payload(large)) == large
    assert decode_payload(gz_b64(small)) == small, "the bare string of msa_gz_b64"
    assert payload_bytes(encode_payload(large), "f").startswith(b"\x1f\x8b"), "still compressed"
    with pytest.raises(PayloadError, match=r"^f: larger than 100 bytes once decompressed"):
        decode_payload(encode_payload(large), "f", limit=100)
    with pytest.raises(PayloadError, match=r"^f: not valid gzip\+base64 data"):
        decode_payload({"encoding": "gzip+base64", "data": "!!"}, "f")


def test_template_structures_are_decoded_within_their_limit():
    cif = "data_x\n" + "ATOM 1 C\n" * 10
    spec, _ = parse_job({"msa": ">q\nM\n", "templates": [{"name": "a.cif", "structure": {"encoding": "gzip+base64",
                                                                                       "data": gz_b64(cif)}}]})
    assert spec.templates[0].text == cif
    bomb = gz_b64(" " * (MAX_STRUCTURE_BYTES + 1))
    with pytest.raises(JobInputError, match=r"^input.templates.0.structure: larger than 10,000,000 bytes"):
        parse_job({"msa": ">q\nM\n", "templates": [{"name": "a.cif", "structure": {"encoding": "gzip+base64",
                                                                                   "data": bomb}}]})


def test_run_prediction_takes_a_spec_or_its_fields_as_keywords_not_both(tmp_path):
    from alphafold_msa.errors import ConfigError
    from alphafold_msa.predict import run_prediction

    with pytest.raises(ConfigError, match=r"give the job's fields in `spec` or as keywords, not both \(models\)"):
        run_prediction(">q\nM\n", tmp_path, spec=JobSpec(), models=[1])
    with pytest.raises(JobInputError, match=r"^input.num_recycle: -1 is less than the minimum of 0"):
        run_prediction(">q\nM\n", tmp_path, num_recycle=-1)


def test_the_sampling_flags_become_the_job_s_fields():
    from alphafold_msa.launcher.cli import build_parser
    from alphafold_msa.launcher.options import LaunchOptions

    arguments = ["--msa", "a.sto", "--msa-clusters", "--multimer-version", "1", "--use-dropout", "--max-msa", "16:32",
                 "--keep-top", "7"]
    spec = LaunchOptions.from_namespace(build_parser().parse_args(arguments)).job_spec()
    assert spec.to_fields() == {"msa_clusters": True, "multimer_version": 1, "dropout": True, "max_msa": [16, 32],
                                "keep_top": 7, "files": True}
    assert spec.is_sampling and spec.kept() == 5 and spec.kept(14) == 7, "AF-Cluster's alignments, once clustered"
