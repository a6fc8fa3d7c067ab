"""Demo weights: generated once into the user's cache so the pipeline can run without the 5 GB download."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from alphafold_msa.model.config import model_name
from alphafold_msa.model.weights import params_file
from alphafold_msa.testing.make_weights import make_weights


def demo_param_dir(model_config: str, preset: str, numbers: Sequence[int]) -> Path:
    """A parameter folder of random weights for `model_config`, generating any missing model files."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "alphafold-msa" / "demo-weights" / model_config
    missing = [n for n in numbers if not params_file(root, model_name(n, preset)).is_file()]
    if missing:
        make_weights(root, model_config=model_config, seed=0, presets=[preset], numbers=missing)
    return root
