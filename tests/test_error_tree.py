"""The package's errors are one tree (alphafold_msa.errors): every error class it defines derives from the
base, each branch has its own exit code and every leaf takes its branch's, and errors.py's diagram and the
README's table say the same."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

from conftest import REPO

import alphafold_msa
from alphafold_msa import errors
from alphafold_msa.errors import AlphafoldMsaError

BRANCHES = {errors.UserError: errors.EXIT_BAD_INPUT, errors.RemoteError: errors.EXIT_REMOTE_FAILED,
            errors.TimedOut: errors.EXIT_TIMEOUT, errors.Cancelled: errors.EXIT_CANCELLED,
            errors.TransferError: errors.EXIT_TRANSFER_FAILED, errors.ResourceError: errors.EXIT_RESOURCES,
            errors.WeightsError: errors.EXIT_WEIGHTS}


def package_errors() -> list[type[BaseException]]:
    """Every exception class a module of the package defines under a public name."""
    found = []
    for info in pkgutil.walk_packages(alphafold_msa.__path__, "alphafold_msa."):
        module = importlib.import_module(info.name)
        found += [value for name, value in vars(module).items()
                  if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name
                  and not name.startswith("_")]
    return found


def branch_of(error: type[AlphafoldMsaError]) -> type[AlphafoldMsaError]:
    return error.__mro__[error.__mro__.index(AlphafoldMsaError) - 1]


def test_every_error_of_the_package_is_in_the_tree_with_its_branch_s_exit_code():
    found = package_errors()
    assert {"StorageError", "DownloadError", "ProvisionError", "ResultTooLargeError", "NotFound", "OutputConflict",
            "DeadlineExceeded", "JobInputError"} <= {error.__name__ for error in found}
    outside = [f"{e.__module__}.{e.__name__}" for e in found if not issubclass(e, AlphafoldMsaError)]
    assert not outside, f"errors outside the tree: {outside}"
    assert set(AlphafoldMsaError.__subclasses__()) == set(BRANCHES)
    for error in found:
        if error is AlphafoldMsaError:
            continue
        branch = branch_of(error)
        assert error.exit_code == BRANCHES[branch], error
        assert error is branch or "exit_code" not in vars(error), f"{error.__name__} overrides its branch's code"


def test_the_branches_have_distinct_codes_and_every_code_constant_is_used():
    codes = sorted(BRANCHES.values())
    assert len(set(codes)) == len(codes) and errors.EXIT_OK not in codes and 1 not in codes
    constants = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert constants == {errors.EXIT_OK, *codes}


def test_the_diagram_and_the_readme_table_match_the_tree():
    diagram = errors.__doc__
    for branch, code in BRANCHES.items():
        assert re.search(rf"\b{branch.__name__}\s+{code}\s", diagram), branch.__name__
    for error in package_errors():
        assert re.search(rf"\b{error.__name__}\b", diagram), f"{error.__name__} is not in errors.py's diagram"
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("| code | meaning |"):].split("\n\n", 1)[0]
    listed = [int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)]
    assert listed == sorted({errors.EXIT_OK, 1, *BRANCHES.values()})
