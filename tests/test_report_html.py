"""report.html (results/html_report.py) opened in headless Chromium with the network blocked: the 3D view renders,
the model switcher changes it, hovering the PAE shows a residue pair's value, no request leaves the page, no error.
Skipped where Chromium is not installed (Debian: apt-get install chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from alphafold_msa.msa import assemble_complex, read_msa
from alphafold_msa.predict import run_prediction
from alphafold_msa.results.html_report import REPORT_FILE, page, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
browser = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")


def open_page(path, tmp_path, hash_: str = "#selftest") -> dict:
    """The page's own check (report.js, #selftest) as Chromium runs it headless, requests to anywhere refused."""
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--proxy-server=127.0.0.1:9",
               "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=20000", "--dump-dom",
               f"{path.resolve().as_uri()}{hash_}"]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    match = re.search(r'<pre id="selftest"[^>]*>(.*?)</pre>', dom, re.S)
    assert match and match[1], f"the page wrote no self-check: {dom[-2000:]}"
    return {**json.loads(match[1].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")), "dom": dom}


def check_clean(outcome: dict) -> None:
    assert outcome["errors"] == [], "no error or console error"
    assert outcome["blocked"] == [] and outcome["requests"] == [], "no request leaves the page"


@browser
def test_a_prediction_s_page_draws_its_models_offline(small_msa_path, reduced_weights, runners, tmp_path):
    result = run_prediction(small_msa_path, tmp_path / "job", reduced_weights, model_config="reduced", models=[1, 2],
                            num_recycle=0, relax="none", runners=runners, demo_weights=True)
    report = result.output_dir / REPORT_FILE
    assert report.is_file() and report.stat().st_size < 3_000_000
    outcome = open_page(report, tmp_path)
    check_clean(outcome)
    assert outcome["models"] == 2 and outcome["coloured_pixels"] > 0, "the 3D view rendered"
    assert outcome["switched"] and "rank 1" in outcome["label"], "the switcher shows the second model"
    assert re.fullmatch(r"aligned A\d+, scored A\d+: PAE \d+\.\d\d Å", outcome["pae_hover"])
    assert "RANDOM demo weights" in outcome["dom"]


@browser
def test_a_complex_s_page_shows_its_chains_and_interfaces(testdata, reduced_weights, runners, tmp_path):
    chains = [read_msa(testdata / "colabfold" / "6A5J.a3m"), read_msa(testdata / "colabfold" / "5AWL1.a3m")]
    result = run_prediction(assemble_complex(chains), tmp_path / "job", reduced_weights, model_config="reduced",
                            models=[1], num_recycle=0, relax="none", runners=runners)
    outcome = open_page(result.output_dir / REPORT_FILE, tmp_path)
    check_clean(outcome)
    assert re.fullmatch(r"aligned [AB]\d+, scored [AB]\d+: PAE \d+\.\d\d Å", outcome["pae_hover"])
    assert "Interfaces (shown model)" in outcome["dom"] and ">A-B<" in outcome["dom"]


@browser
def test_the_page_s_policy_refuses_any_request(tmp_path):
    """A script on the page that tries to reach a server (here one on this machine) is refused by the page's
    Content-Security-Policy before any request is made."""
    probe = """
    const seen = [];
    document.addEventListener("securitypolicyviolation", (e) => seen.push(e.violatedDirective));
    fetch("http://127.0.0.1:9/x").catch(() => null).finally(() => setTimeout(() => {
      document.getElementById("selftest").textContent = JSON.stringify({blocked: seen});
    }, 200));
    """
    path = tmp_path / "probe.html"
    path.write_text(page("probe", "<main></main>", [probe]))
    assert any(directive.startswith("connect-src") for directive in open_page(path, tmp_path, "")["blocked"])


def test_no_report_when_asked_and_none_without_models(small_msa_path, reduced_weights, runners, tmp_path):
    result = run_prediction(small_msa_path, tmp_path / "job", reduced_weights, model_config="reduced", models=[1],
                            num_recycle=0, relax="none", runners=runners, report=False)
    assert not (result.output_dir / REPORT_FILE).exists()
    assert write_report(tmp_path) is None


@browser
def test_a_sampling_run_s_page_links_each_state_s_representative(small_msa_path, reduced_weights, runners, tmp_path):
    result = run_prediction(small_msa_path, tmp_path / "job", reduced_weights, model_config="reduced", models=[1],
                            num_seeds=3, dropout=True, num_recycle=0, relax="none", runners=runners)
    outcome = open_page(result.output_dir / REPORT_FILE, tmp_path)
    check_clean(outcome)
    assert "Structural states of the samples" in outcome["dom"] and 'class="show-model"' in outcome["dom"]


@browser
def test_a_batch_s_pages_share_one_viewer(testdata, reduced_weights, runners, tmp_path):
    """A local batch: each alignment's page loads out/report-viewer.js instead of holding its own copy; a page
    moved out of the batch folder still shows everything but the 3D view."""
    from alphafold_msa.launcher.cli import main

    folder = tmp_path / "alignments"
    folder.mkdir()
    for name in ("6A5J.a3m", "5AWL1.a3m"):
        shutil.copy(testdata / "colabfold" / name, folder)
    out = tmp_path / "out"
    assert main(["--local", "--param-dir", str(reduced_weights), "--model-config", "reduced", "--models", "1",
                 "--num-recycle", "0", "--relax", "none", "--msa", str(folder), "--output-dir", str(out)],
                runners=runners) == 0
    assert (out / "report-viewer.js").stat().st_size > 100_000
    page_path = out / "6A5J" / REPORT_FILE
    assert page_path.stat().st_size < 200_000, "the page holds its data, not the viewer"
    outcome = open_page(page_path, tmp_path)
    check_clean(outcome)
    assert outcome["viewer"] is True
    moved = tmp_path / "moved" / "6A5J"
    shutil.copytree(out / "6A5J", moved)
    alone = open_page(moved / REPORT_FILE, tmp_path)
    assert alone["viewer"] is False and alone["errors"] == [] and "PAE" in alone["pae_hover"]
    assert "report-viewer.js in the batch" in alone["dom"]


def test_a_page_holds_at_most_the_top_models(small_msa_path, reduced_weights, runners, tmp_path, monkeypatch):
    from alphafold_msa.results import html_report

    result = run_prediction(small_msa_path, tmp_path / "job", reduced_weights, model_config="reduced", models=[1],
                            num_seeds=3, num_recycle=0, relax="none", runners=runners, report=False)
    monkeypatch.setattr(html_report, "MAX_MODELS", 2)
    data = html_report.report_data(result.output_dir)
    assert data is not None and [m["rank"] for m in data["models"]] == [0, 1] and data["ranked"] == 3
    monkeypatch.setattr(html_report, "MAX_MODELS", 25)
    monkeypatch.setattr(html_report, "PAE_BUDGET_BYTES", 13 * 13 * 2)  # two 13-residue PAE matrices
    data = html_report.report_data(result.output_dir)
    assert data is not None and len(data["models"]) == 2
    monkeypatch.setattr(html_report, "PAE_BUDGET_BYTES", 1)  # the top model's, always
    data = html_report.report_data(result.output_dir)
    assert data is not None and len(data["models"]) == 1
