"""The package's layers, checked on the source: which part may import which, and no import cycles.

The light client (`pip install .`: the launcher, the MSA readers, the job protocol) must run
without jax, so those layers never import the model, the results or the worker at module level;
only local mode imports the prediction stack, inside its functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "alphafold_msa"
BASE = {"errors", "settings", "files", "compression"}
# Layer -> the layers it may import (its own always allowed).
ALLOWED = {
    "base": {"base"},
    "msa": {"base", "protocol"},
    "protocol": {"base"},  # the contract: nothing from the implementation
    "transfer": {"base", "protocol"},
    "structures": {"base", "msa", "protocol"},
    "model": {"base", "msa", "protocol", "transfer", "structures"},
    "results": {"base", "msa", "protocol", "structures", "model"},
    "predict": {"base", "msa", "protocol", "model", "results", "structures"},
    "testing": {"base", "msa", "protocol", "structures", "model"},
    "worker": {"api", "base", "msa", "protocol", "transfer", "structures", "model", "results", "predict"},
    "launcher": {"base", "msa", "protocol", "transfer", "structures"},
    "api": {"base", "msa", "results", "predict"},
}
# Local mode runs the prediction in the launcher's process: these modules may import the model
# stack inside functions (never at module level).
LOCAL_MODE = {"alphafold_msa.launcher.cli", "alphafold_msa.launcher.local"}
LOCAL_MODE_EXTRA = {"model", "results", "predict", "testing"}
# Narrow exceptions, inside a function: --check prints the device-memory and GPU-time estimates from
# model/memory.py and model/speed.py, which import no jax (the light-client test runs --check without it).
CLIENT_SAFE = {("alphafold_msa.launcher.inputs", "alphafold_msa.model.memory"),
               ("alphafold_msa.launcher.inputs", "alphafold_msa.model.speed"),
               ("alphafold_msa.launcher.fanout", "alphafold_msa.model.speed"),
               # --fan-out merges its jobs' files with the worker's own writers (numpy and matplotlib, no jax).
               ("alphafold_msa.launcher.fanout", "alphafold_msa.results.merge"),
               # A screen's report.html is written with the prediction pages' writer (numpy, no jax).
               ("alphafold_msa.launcher.screen", "alphafold_msa.results.html_report"),
               ("alphafold_msa.launcher.remote", "alphafold_msa.results.html_report")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    return "base" if parts[1] in BASE else parts[1]


def imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported package module, at module level?, line) for each import of the package in `module`."""
    tree = ast.parse(MODULES[module].read_text())
    top_level = {id(node) for node in tree.body}
    guarded = [block for block in tree.body if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)]
    typing_only = {id(node) for block in guarded for node in ast.walk(block)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: never imported at run time
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("alphafold_msa"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found.append((target if target in MODULES else node.module, id(node) in top_level, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, id(node) in top_level, node.lineno) for a in node.names
                      if a.name.startswith("alphafold_msa")]
    return found


def test_the_source_tree_is_what_the_check_covers():
    assert {"alphafold_msa.launcher.cli", "alphafold_msa.model.runner", "alphafold_msa.msa.stockholm",
            "alphafold_msa.protocol.schema", "alphafold_msa.worker.handler", "alphafold_msa.settings"} <= set(MODULES)
    assert {layer(m) for m in MODULES} == set(ALLOWED)
    assert all(target in MODULES for module in MODULES for target, _, _ in imports(module))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_one_way(module):
    own = layer(module)
    wrong = []
    for target, at_top, line in imports(module):
        allowed = ALLOWED[own] | {own}
        if not at_top and module in LOCAL_MODE:
            allowed |= LOCAL_MODE_EXTRA
        if layer(target) not in allowed and (at_top or (module, target) not in CLIENT_SAFE):
            wrong.append(f"line {line}: {target} ({layer(target)}{'' if at_top else ', in a function'})")
    assert not wrong, f"{module} ({own}) may import only {sorted(ALLOWED[own])}: " + "; ".join(wrong)


def test_no_import_cycles():
    """Neither module-level nor function-level imports form a cycle (a package imports its own
    __init__ implicitly, which is not an edge here)."""
    graph = {module: {target for target, _, _ in imports(module) if target != module} for module in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_nothing_imports_the_entry_points():
    """The command line (launcher/cli.py) and the worker's handler sit on top: nothing below imports them."""
    for top in ("alphafold_msa.launcher.cli", "alphafold_msa.worker.handler"):
        importers = [module for module in MODULES if any(target == top for target, _, _ in imports(module))]
        assert importers == [], f"{top} is imported by {importers}"


def test_the_job_schema_is_the_one_source_of_the_job_s_fields_and_choices():
    import dataclasses

    from alphafold_msa import settings
    from alphafold_msa.msa import pairing, read
    from alphafold_msa.protocol import schema
    from alphafold_msa.protocol.spec import JobSpec

    assert read.FORMATS is schema.MSA_FORMATS and pairing.PAIRING_METHODS is schema.PAIRING_METHODS
    assert settings.RELAX.choices == schema.RELAX_MODES
    fields = {field.name: field.default for field in dataclasses.fields(JobSpec)}
    assert set(fields) == set(schema.DEFAULTS), "a JobSpec field for every job field but the alignment"
    assert JobSpec().to_fields() == {} and JobSpec.from_fields(schema.DEFAULTS) == JobSpec()


def test_every_environment_variable_is_read_through_settings():
    """`os.environ` is read only in settings.py (the relaxation child sets jax's own variables, and the
    demo weights follow the XDG cache convention)."""
    readers = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                readers.append(module)
    assert sorted(set(readers)) == ["alphafold_msa.model.relax", "alphafold_msa.settings",
                                    "alphafold_msa.testing.demo"]
