"""launch.py's --template: read the structure files, match them to the query here, and pass them on."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Sequence

from alphafold_msa.errors import TemplateError
from alphafold_msa.protocol.schema import MAX_TEMPLATES
from alphafold_msa.protocol.spec import TemplateSpec
from alphafold_msa.structures.match import TemplateMatch, match_templates, parse_template_argument, query_targets
from alphafold_msa.structures.read import detect_format, load_structure_text


def read_templates(arguments: Sequence[str] | None) -> list[TemplateSpec]:
    """The --template FILE[:CHAIN][@COMPLEX_CHAIN] arguments as read files (at most MAX_TEMPLATES)."""
    arguments = list(arguments or [])
    if len(arguments) > MAX_TEMPLATES:
        raise TemplateError(f"--template given {len(arguments)} times; AlphaFold2 uses at most {MAX_TEMPLATES}")
    templates = []
    for argument in arguments:
        path, chain, query_chain = parse_template_argument(argument)
        if not Path(path).is_file():
            raise TemplateError(f"--template {argument}: no such file: {path}")
        text = load_structure_text(path)
        templates.append(TemplateSpec(name=Path(path).name, text=text, format=detect_format(text, path),
                                       chain=chain, query_chain=query_chain))
    return templates


def check_templates(templates: Sequence[TemplateSpec], msa) -> list[TemplateMatch]:
    """Match the templates to the query (or the complex's chains) as the prediction will, so a template
    that cannot be used fails here; the matches."""
    return match_templates(templates, query_targets(msa)) if templates else []


def describe_templates(matches: Sequence[TemplateMatch]) -> None:
    """Say on the console what each matched template covers, and its structure's warnings."""
    for match in matches:
        print(f"template {match.describe()}", file=sys.stderr)
    for warning in sorted({w for m in matches for w in m.structure.warnings}):
        print(f"WARNING: {warning}", file=sys.stderr)


def fingerprints(templates: Sequence[TemplateSpec]) -> list[dict]:
    """What a batch's manifest records of its templates: names, chains and the structures' SHA-256."""
    return [{"name": t.name, "chain": t.chain, "query_chain": t.query_chain,
             "sha256": hashlib.sha256(t.text.encode()).hexdigest()} for t in templates]
