"""Write randomly initialised AlphaFold parameters in the official `params/params_model_*.npz` layout.

    python -m alphafold_msa.testing.make_weights --config reduced|full [--seed N] [--tar FILE] DIR

The arrays have exactly the names and shapes of the official files (monomer models 1-2 with
template modules and unfused triangle multiplications; multimer v3 models with templates and
fused ones), so they load through the same code path as real
weights. Values are random and deterministic by seed: structures predicted with them are meaningless.
"""

from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from alphafold_msa.errors import EXIT_OK
from alphafold_msa.model.config import MODEL_CONFIGS, MODEL_PRESETS, alphafold_config, model_name
from alphafold_msa.model.features import zero_recycling_inputs
from alphafold_msa.protocol.schema import MODEL_NUMBERS

_TEMPLATES = 1
_LENGTH = 8


def _example_batch(cfg) -> dict:
    """A minimal processed batch, enough for the network to declare its parameters."""
    length, clusters, extra = _LENGTH, 4, 4
    f32 = np.float32
    batch = {
        "aatype": np.zeros((1, length), np.int32),
        "residue_index": np.arange(length, dtype=np.int32)[None],
        "seq_mask": np.ones((1, length), f32),
        "msa_mask": np.ones((1, clusters, length), f32),
        "msa_row_mask": np.ones((1, clusters), f32),
        "msa_feat": np.zeros((1, clusters, length, 49), f32),
        "target_feat": np.zeros((1, length, 22), f32),
        "true_msa": np.zeros((1, clusters, length), np.int32),
        "bert_mask": np.zeros((1, clusters, length), f32),
        "extra_msa": np.zeros((1, extra, length), np.int32),
        "extra_msa_mask": np.ones((1, extra, length), f32),
        "extra_msa_row_mask": np.ones((1, extra), f32),
        "extra_has_deletion": np.zeros((1, extra, length), f32),
        "extra_deletion_value": np.zeros((1, extra, length), f32),
        "atom14_atom_exists": np.ones((1, length, 14), f32),
        "atom37_atom_exists": np.ones((1, length, 37), f32),
        "residx_atom14_to_atom37": np.zeros((1, length, 14), np.int32),
        "residx_atom37_to_atom14": np.zeros((1, length, 37), np.int32),
        "prev": zero_recycling_inputs(length),
    }
    if cfg.model.embeddings_and_evoformer.template.enabled:
        t = _TEMPLATES
        batch.update(
            template_aatype=np.zeros((1, t, length), np.int32),
            template_all_atom_positions=np.zeros((1, t, length, 37, 3), f32),
            template_all_atom_masks=np.zeros((1, t, length, 37), f32),
            template_mask=np.ones((1, t), f32),
            template_pseudo_beta=np.zeros((1, t, length, 3), f32),
            template_pseudo_beta_mask=np.ones((1, t, length), f32),
        )
    return batch


def _multimer_example_batch() -> dict:
    """Merged features of a small heterodimer, the input AlphaFold-Multimer declares its parameters on."""
    from alphafold_msa.model.complex_features import build_multimer_features
    from alphafold_msa.msa import from_sequences
    from alphafold_msa.msa.complex import assemble_complex

    chains = [from_sequences(["ACDEFGHI", "ACDEFGHV"]), from_sequences(["KLMNPQ", "KLMNPE"])]
    batch: dict[str, Any] = dict(build_multimer_features(assemble_complex(chains)))
    length = len(batch["aatype"])
    batch["prev"] = zero_recycling_inputs(length)
    return batch


def parameter_shapes(name: str, model_config: str) -> dict[str, dict[str, tuple[int, ...]]]:
    """Scope -> array name -> shape, as in the official file for parameter set `name`."""
    import jax
    from alphafold.model import model

    cfg = alphafold_config(name, model_config, for_weights=True)
    runner = model.RunModel(cfg)
    multimer = cfg.model.global_config.multimer_mode
    batch = _multimer_example_batch() if multimer else _example_batch(cfg)
    shapes = jax.eval_shape(runner.init, jax.random.PRNGKey(0), batch)
    return {scope: {k: tuple(v.shape) for k, v in arrays.items()} for scope, arrays in shapes.items()}


def random_arrays(shapes: dict[str, dict[str, tuple[int, ...]]], seed: int) -> dict[str, np.ndarray]:
    """Flat `scope//name` arrays: unit scales, zero offsets, weights scaled by 1/sqrt(fan-in)."""
    rng = np.random.default_rng(seed)
    flat = {}
    for scope in sorted(shapes):
        for name, shape in sorted(shapes[scope].items()):
            if name == "scale":
                array = np.ones(shape, np.float32)
            elif name in ("offset", "bias"):
                array = np.zeros(shape, np.float32)
            else:
                fan_in = shape[-2] if len(shape) >= 2 else 1
                array = rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=shape).astype(np.float32)
            flat[f"{scope}//{name}"] = array
    return flat


def make_weights(
    out_dir: str | Path,
    model_config: str = "reduced",
    seed: int = 0,
    presets: Sequence[str] = MODEL_PRESETS,
    numbers: Sequence[int] = MODEL_NUMBERS,
    tar: str | Path | None = None,
) -> list[Path]:
    """Write `out_dir/params/params_model_*.npz` (and optionally an official-style tar); returns the npz paths."""
    params_dir = Path(out_dir) / "params"
    params_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for preset_index, preset in enumerate(presets):
        for number in numbers:
            name = model_name(number, preset)
            arrays = random_arrays(parameter_shapes(name, model_config), seed=seed * 100 + preset_index * 10 + number)
            path = params_dir / f"params_{name}.npz"
            partial = path.with_suffix(".npz.partial")
            with open(partial, "wb") as handle:
                # mypy matches **arrays against savez's `allow_pickle: bool` too
                np.savez(handle, **arrays)  # type: ignore[arg-type]
            partial.replace(path)
            written.append(path)
    if tar is not None:
        write_tar(written, Path(tar))
    return written


def write_tar(npz_files: Sequence[Path], tar_path: Path) -> None:
    """A tar laid out like the official archive: the npz files and a LICENSE at its root."""
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "w") as archive:
        for path in npz_files:
            archive.add(path, arcname=path.name)
        notice = b"Randomly initialised test parameters; not the AlphaFold weights.\n"
        info = tarfile.TarInfo("LICENSE")
        info.size = len(notice)
        archive.addfile(info, io.BytesIO(notice))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alphafold_msa.testing.make_weights",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="writes OUT_DIR/params/params_model_*.npz")
    parser.add_argument("--config", choices=MODEL_CONFIGS, default="reduced",
                        help="model configuration the weights fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", action="append", choices=MODEL_PRESETS, help="parameter sets (default: all)")
    parser.add_argument("--models", default="1,2,3,4,5", help="comma-separated model numbers (default 1,2,3,4,5)")
    parser.add_argument("--tar", help="also write an archive laid out like the official one")
    args = parser.parse_args(argv)
    numbers = [int(n) for n in args.models.split(",")]
    written = make_weights(args.out_dir, args.config, args.seed, args.preset or MODEL_PRESETS, numbers, args.tar)
    print(f"wrote {len(written)} parameter files to {Path(args.out_dir) / 'params'}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
