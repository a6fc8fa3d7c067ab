"""What XLA assigns to the network at one length: one entry of model/memory.py's tables, measured."""

from __future__ import annotations

from typing import Any

import numpy as np

from alphafold_msa.msa import Msa, parse_msa


def measure_working_bytes(network_config, padded_length: int) -> tuple[int, int]:
    """(working bytes, parameter bytes) XLA assigns to one recycle at `padded_length` residues.

    Lowers and compiles the network for abstract inputs with the config's MSA crops; runs nothing. The
    config's global_config says which kernels it compiles (the fused ones on a GPU when its `use_pallas` is set).
    An AlphaFold-Multimer config is measured on a heterodimer of two chains of half the length each, with the
    features its MSA sampler gives the network.
    """
    import jax
    from alphafold.model import model

    from alphafold_msa.model.features import zero_recycling_inputs

    multimer = bool(network_config.model.global_config.multimer_mode)
    features = _multimer_features(network_config, padded_length) if multimer else _monomer_features(
        network_config, padded_length)
    batch: dict[str, Any] = {name: jax.ShapeDtypeStruct(shape, dtype) for name, (shape, dtype) in features.items()}
    batch["prev"] = zero_recycling_inputs(padded_length, jax.ShapeDtypeStruct)
    runner = model.RunModel(network_config)
    key = jax.random.PRNGKey(0)
    params = jax.eval_shape(runner.init, key, batch)
    param_bytes = sum(int(np.prod(v.shape)) * v.dtype.itemsize for scope in params.values() for v in scope.values())
    analysis = runner.apply.lower(params, key, batch).compile().memory_analysis()
    working = (analysis.argument_size_in_bytes - param_bytes + analysis.output_size_in_bytes
               + analysis.temp_size_in_bytes)
    return int(working), int(param_bytes)


def _two_rows(length: int, offset: int = 0) -> Msa:
    """A `length`-residue query (the amino acids in turn from `offset`) and its reverse: the smallest alignment."""
    sequence = ("ACDEFGHIKLMNPQRSTVWY" * (length + 20))[offset:offset + length]
    return parse_msa(f">query\n{sequence}\n>other\n{sequence[::-1]}\n")


def _monomer_features(network_config, padded_length: int) -> dict[str, tuple[tuple, Any]]:
    """(shape, dtype) of each feature of one recycle of the monomer network."""
    from alphafold_msa.model.features import build_features, process_features

    processed = process_features(build_features(_two_rows(padded_length)), network_config, num_recycle=0,
                                 random_seed=0)
    return {name: ((1, *value.shape[1:]), value.dtype) for name, value in processed.items()}


def _multimer_features(network_config, padded_length: int) -> dict[str, tuple[tuple, Any]]:
    """(shape, dtype) of each feature AlphaFold-Multimer's network takes for one recycle: a heterodimer's features
    with the raw MSA replaced by what the sampler draws (the config's MSA crops)."""
    import jax
    from alphafold.model import msa_sampling

    from alphafold_msa.model.complex_features import build_multimer_features
    from alphafold_msa.msa import ComplexMsa

    first = padded_length // 2
    chains = (_two_rows(first), _two_rows(padded_length - first, 7))
    features = dict(build_multimer_features(ComplexMsa(chains, (1, 1), None, "memory probe")))
    evoformer = network_config.model.embeddings_and_evoformer
    raw = {name: features.pop(name) for name in msa_sampling.RAW if name in features}
    raw = msa_sampling.pad_raw(raw, msa_sampling.depth_bucket(len(raw["msa"]),
                                                              evoformer.num_msa + evoformer.num_extra_msa))
    sampled = jax.eval_shape(msa_sampling.make_sampler(evoformer), raw, jax.random.PRNGKey(0))
    shapes = {name: (np.shape(value), np.asarray(value).dtype) for name, value in features.items()}
    shapes.update({name: (value.shape, value.dtype) for name, value in sampled.items()})
    return shapes

