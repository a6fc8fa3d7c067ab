"""alphafold-msa: AlphaFold2 structure prediction from a user-supplied multiple sequence alignment.

Importing the package stays light (no jax): `run_prediction` loads the model stack on first use.
"""

from __future__ import annotations

from typing import Any

from alphafold_msa.errors import AlphafoldMsaError, ConfigError, MsaError, UserError, WeightsError
from alphafold_msa.msa import Msa, parse_msa, read_msa
from alphafold_msa.results.types import PredictionResult, RankedModel

__version__ = "0.1.0"
__all__ = [
    "AlphafoldMsaError", "ConfigError", "Msa", "MsaError", "PredictionResult", "RankedModel", "UserError",
    "WeightsError", "parse_msa", "read_msa", "run_prediction",
]


def __getattr__(name: str) -> Any:
    if name == "run_prediction":
        from alphafold_msa.predict import run_prediction

        return run_prediction
    raise AttributeError(f"module 'alphafold_msa' has no attribute {name!r}")
