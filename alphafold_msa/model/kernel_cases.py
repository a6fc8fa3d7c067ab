"""Module-level checks of the fused kernels: the attention cases ColabFold 1.6.2's fused path got wrong.

ColabFold 1.6.3's release notes name two wrong results of the fused path in 1.6.2: the extra-MSA stack's row
attention, whose head dimension is 8 (64 channels, 8 heads: below the 16 the kernels tile), and the template
pointwise attention, whose key mask (which templates exist) was read from the first row only. Each case here runs
one module of the fork on fixed random inputs, with padded residues and sequences or missing templates masked,
three ways: through the fused path in bfloat16, through plain XLA in bfloat16 and through plain XLA in float32
(the reference); the fused output must be no further from the reference than NOISE_FACTOR times plain
bfloat16's own distance plus SLACK (relative to the reference's mean magnitude). The kernel self-check
(kernel_check) runs them beside the whole network.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping

import numpy as np

# Relative distances: mean and largest absolute difference over the live outputs, over the reference's mean
# magnitude there.
NOISE_FACTOR = 2.0
SLACK = {"mean_rel": 0.01, "max_rel": 0.1}
CASES = ("extra_msa_row_attention", "template_pointwise_attention")
_ROWS, _RESIDUES, _PADDED_ROWS, _PADDED_RESIDUES = 48, 40, 5, 6
_TEMPLATE_MASK = (0.0, 1.0, 1.0, 0.0)  # the first and last templates absent


def run_cases(global_config: Any, evoformer_config: Any, settings: dict[str, dict[str, Any]]) -> dict[str, dict]:
    """{case: {label: output}} for each of CASES, where `settings` maps each label ('fused', 'xla',
    'reference') to the `global_config` fields it runs with (the reference's `bfloat16` False); a label whose run
    raised holds {'error': 'Type: message'} instead of an output. `evoformer_config` is the network's
    embeddings_and_evoformer config (the modules' own settings)."""
    outputs: dict[str, dict] = {}
    for case in CASES:
        build, inputs, live = _CASE_BUILDERS[case](evoformer_config)
        params = _random_params(build, global_config, inputs)
        outputs[case] = {"live": live}
        for label, fields in settings.items():
            config = copy.deepcopy(global_config)
            config.update(fields)
            try:
                outputs[case][label] = _apply(build, config, params, inputs)
            except Exception as error:  # a fused kernel that fails to compile or run fails its case
                outputs[case][label] = {"error": f"{type(error).__name__}: {error}"}
    return outputs


def judge_cases(outputs: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict], list[str]]:
    """(each case's relative distances of 'fused' and 'xla' to 'reference', problems): a case whose fused output
    is missing, not finite or too far from the reference is a problem; ValueError when a plain-XLA output is
    missing or not finite (the case then says nothing)."""
    distances: dict[str, dict] = {}
    problems: list[str] = []
    for case, runs in outputs.items():
        for label in ("xla", "reference"):
            failed = _failure(runs[label], label)
            if failed:
                raise ValueError(f"{case}: the plain-XLA run failed: {failed}")
        failed = _failure(runs["fused"], "fused")
        if failed:
            problems.append(f"{case}: {failed}")
            continue
        distances[case] = {label: _distance(runs[label], runs["reference"], runs["live"]) for label in ("fused", "xla")}
        for name, slack in SLACK.items():
            limit = round(NOISE_FACTOR * distances[case]["xla"][name] + slack, 4)
            if not distances[case]["fused"][name] <= limit:
                problems.append(f"{case}: {name}={distances[case]['fused'][name]} > {limit}")
    return distances, problems


def _failure(output: np.ndarray | Mapping[str, str], label: str) -> str | None:
    """Why a run gave no usable output (its error, or '<label> output is not finite'), or None."""
    if isinstance(output, Mapping):
        return output["error"]
    return None if np.isfinite(output).all() else f"{label} output is not finite"


def _distance(output: np.ndarray, reference: np.ndarray, live: np.ndarray) -> dict[str, float]:
    difference = np.abs(output - reference)[live]
    scale = float(np.abs(reference[live]).mean()) or 1.0
    return {"mean_rel": round(float(difference.mean()) / scale, 4),
            "max_rel": round(float(difference.max()) / scale, 4)}


def _extra_msa_row_attention(evoformer_config: Any) -> tuple[Callable, dict, np.ndarray]:
    """MSARowAttentionWithPairBias as the extra-MSA stack runs it (64 channels, 8 heads: head dimension 8), with
    padded sequences and residues masked."""
    from alphafold.model import modules

    rng = np.random.default_rng(1)
    channels = int(evoformer_config.extra_msa_channel)
    mask = np.ones((_ROWS, _RESIDUES), np.float32)
    mask[-_PADDED_ROWS:] = 0
    mask[:, -_PADDED_RESIDUES:] = 0
    inputs = {"msa_act": rng.standard_normal((_ROWS, _RESIDUES, channels)).astype(np.float32),
              "msa_mask": mask,
              "pair_act": rng.standard_normal((_RESIDUES, _RESIDUES, int(evoformer_config.pair_channel)))
              .astype(np.float32)}

    def build(global_config: Any) -> Callable:
        module_config = evoformer_config.evoformer.msa_row_attention_with_pair_bias
        return lambda msa_act, msa_mask, pair_act: modules.MSARowAttentionWithPairBias(
            module_config, global_config, name="extra_msa_row_attention")(msa_act, msa_mask, pair_act)

    return build, inputs, np.broadcast_to(mask[..., None] > 0, (_ROWS, _RESIDUES, channels))


def _template_pointwise_attention(evoformer_config: Any) -> tuple[Callable, dict, np.ndarray]:
    """The template embedding's pointwise attention as TemplateEmbedding calls it: each residue pair's query
    attends over the templates, the absent ones masked by one key-mask row shared by every pair."""
    from alphafold.model import modules, utils

    rng = np.random.default_rng(2)
    template = evoformer_config.template
    pairs, channels = 24 * 24, int(evoformer_config.pair_channel)
    values = int(template.template_pair_stack.triangle_attention_ending_node.value_dim)
    inputs = {"query": rng.standard_normal((pairs, 1, channels)).astype(np.float32),
              "templates": rng.standard_normal((pairs, len(_TEMPLATE_MASK), values)).astype(np.float32),
              "template_mask": np.asarray(_TEMPLATE_MASK, np.float32)}

    def build(global_config: Any) -> Callable:
        def apply(query: Any, templates: Any, template_mask: Any) -> Any:
            bias = utils.mask_to_bias(template_mask[None, None, None, :], query.dtype)
            return modules.Attention(template.attention, global_config, channels,
                                     name="template_pointwise_attention")(query, templates, bias)
        return apply

    return build, inputs, np.ones((pairs, 1, channels), bool)


_CASE_BUILDERS: dict[str, Callable[[Any], tuple[Callable, dict, np.ndarray]]] = {
    "extra_msa_row_attention": _extra_msa_row_attention,
    "template_pointwise_attention": _template_pointwise_attention,
}


def _transformed(build: Callable, global_config: Any) -> Any:
    import haiku as hk
    from alphafold.model import common_modules, utils

    def forward(inputs: dict) -> Any:
        common_modules.set_kernel_context(global_config)
        dtype = utils.half_dtype(global_config)
        with utils.half_context():
            return build(global_config)(**{name: value.astype(dtype) for name, value in inputs.items()})

    return hk.transform(forward)


def _random_params(build: Callable, global_config: Any, inputs: dict) -> Any:
    """The module's parameters drawn at random (AlphaFold initializes its output projections to zero, which
    would make every output its bias), in float32."""
    import jax

    config = copy.deepcopy(global_config)
    config.update({"use_pallas": False, "bfloat16": False})
    shapes = _transformed(build, config).init(jax.random.PRNGKey(0), inputs)
    rng = np.random.default_rng(3)

    def draw(path: tuple, value: Any) -> np.ndarray:
        shape = np.shape(value)
        if str(path[-1].key) == "scale":
            return (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        return (rng.standard_normal(shape) * (shape[0] ** -0.5 if len(shape) > 1 else 0.1)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def _apply(build: Callable, global_config: Any, params: Any, inputs: dict) -> np.ndarray:
    import jax

    apply = jax.jit(_transformed(build, global_config).apply)
    if global_config.bfloat16:
        return np.asarray(apply(params, None, inputs), np.float32)
    with jax.default_matmul_precision("highest"):  # float32 products, not TF32, for the reference
        return np.asarray(apply(params, None, inputs), np.float32)
