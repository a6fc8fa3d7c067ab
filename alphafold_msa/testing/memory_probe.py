"""What XLA assigns to the network at one length: one entry of model/memory.py's table, measured."""

from __future__ import annotations

from typing import Any


def measure_working_bytes(network_config, padded_length: int) -> tuple[int, int]:
    """(working bytes, parameter bytes) XLA assigns to one recycle at `padded_length` residues.

    Lowers and compiles the network for abstract inputs with the config's MSA crops; runs nothing.
    """
    import jax
    import numpy as np
    from alphafold.model import model

    from alphafold_msa.model.features import build_features, process_features, zero_recycling_inputs
    from alphafold_msa.msa import parse_msa

    sequence = ("ACDEFGHIKLMNPQRSTVWY" * padded_length)[:padded_length]
    msa = parse_msa(f">query\n{sequence}\n>other\n{sequence[::-1]}\n")
    processed = process_features(build_features(msa), network_config, num_recycle=0, random_seed=0)
    batch: dict[str, Any] = {k: jax.ShapeDtypeStruct((1, *v.shape[1:]), v.dtype) for k, v in processed.items()}
    batch["prev"] = zero_recycling_inputs(padded_length, jax.ShapeDtypeStruct)
    runner = model.RunModel(network_config)
    key = jax.random.PRNGKey(0)
    params = jax.eval_shape(runner.init, key, batch)
    param_bytes = sum(int(np.prod(v.shape)) * v.dtype.itemsize for scope in params.values() for v in scope.values())
    analysis = runner.apply.lower(params, key, batch).compile().memory_analysis()
    working = (analysis.argument_size_in_bytes - param_bytes + analysis.output_size_in_bytes
               + analysis.temp_size_in_bytes)
    return int(working), int(param_bytes)
