"""Model configurations: `full` (the real AlphaFold2 network) and `reduced` (a small one for CPU tests).

Both are derived from the `alphafold` package's own configuration; `reduced` only shrinks the
number of blocks and the MSA crops, so it runs the same code on weights of the same layout.
"""

from __future__ import annotations

from alphafold_msa import settings
from alphafold_msa.errors import ConfigError
from alphafold_msa.protocol.schema import MODEL_NUMBERS

MODEL_CONFIGS = settings.MODEL_CONFIG.choices
MODEL_PRESETS = ("monomer_ptm", "monomer", "multimer", "multimer_v2", "multimer_v1")
# AlphaFold-Multimer's weights by version (the job's multimer_version): v3 (2022-12-06), v2 (2022-03-02) and v1
# (2021-10-27); v1 and v2 read at most 252:1152 MSA rows and recycle 3 times without early stop (their configs).
MULTIMER_PRESETS = {3: "multimer", 2: "multimer_v2", 1: "multimer_v1"}
_SUFFIXES = {"monomer_ptm": "_ptm", "monomer": "", "multimer": "_multimer_v3", "multimer_v2": "_multimer_v2",
             "multimer_v1": "_multimer"}
# Sequence lengths are padded up to the next bucket so jobs of nearby lengths share one compiled
# network: steps of 8 residues up to 256 (so padding costs little compute at any length, like
# ColabFold's recompile padding of 10), then steps of at most ~12%; longer queries run at their
# exact length. The persistent compilation cache makes each bucket a one-time cost per endpoint.
LENGTH_BUCKETS = (*range(16, 257, 8), 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 832, 896, 960,
                  1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2560)
# MSA rows enter the network's shapes too: the cluster and extra-MSA crops are fitted to the
# alignment's depth (as ColabFold does) and rounded up to one of these, within the config's limits,
# so a shallow alignment runs a smaller network without a compilation for every depth.
DEPTH_BUCKETS = (*range(16, 129, 16), 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1024, 1280, 1536, 2048,
                 2560, 3072, 4096, 5120)
# Evoformer blocks, extra-MSA blocks, MSA clusters, extra MSA rows.
_REDUCED = {"evoformer_num_block": 2, "extra_msa_stack_num_block": 1, "max_msa_clusters": 16, "max_extra_msa": 32}


def bucket_length(length: int) -> int:
    """The padded length a query of `length` residues runs at."""
    return next((bucket for bucket in LENGTH_BUCKETS if bucket >= length), length)


def resolve_relax(mode: str | None) -> str:
    """The relaxation mode from the argument, else $ALPHAFOLD_MSA_RELAX, else 'best'."""
    return settings.choice(mode, settings.RELAX, "relax")


def relaxed_ranks(mode: str, num_models: int) -> range:
    """The ranks relaxation mode `mode` relaxes: none, the top one, or all."""
    return range({"none": 0, "best": min(1, num_models), "all": num_models}[mode])


def msa_crops(depth: int, max_clusters: int, max_extra: int, bucketing: bool = True) -> tuple[int, int]:
    """(MSA clusters, extra MSA rows) the network runs with for an alignment of `depth` rows.

    Without `bucketing`, AlphaFold's fixed crops (`max_clusters`, `max_extra`).
    """
    if not bucketing:
        return max_clusters, max_extra
    clusters = min(depth, max_clusters)
    extra = max(min(depth - clusters, max_extra), 1)
    return _depth_bucket(clusters, max_clusters), _depth_bucket(extra, max_extra)


def _depth_bucket(rows: int, limit: int) -> int:
    return min(next((bucket for bucket in DEPTH_BUCKETS if bucket >= rows), limit), limit)


def resolve_model_config(name: str | None) -> str:
    """The configuration name from the argument, else $ALPHAFOLD_MSA_MODEL_CONFIG, else 'full'."""
    name = name or settings.text(settings.MODEL_CONFIG)
    if name not in MODEL_CONFIGS:
        raise ConfigError(f"model config '{name}' is unknown; expected one of {', '.join(MODEL_CONFIGS)}")
    return name


def is_multimer(preset: str) -> bool:
    """Whether `preset` is AlphaFold-Multimer (any version)."""
    return preset in MULTIMER_PRESETS.values()


def template_models(preset: str) -> tuple[int, ...]:
    """The model numbers that read templates: 1 and 2 of the monomer sets (as in AlphaFold and
    ColabFold; models 3-5 were trained without them), all five of AlphaFold-Multimer."""
    return MODEL_NUMBERS if is_multimer(preset) else (1, 2)


def model_name(number: int, preset: str) -> str:
    """The official parameter name, e.g. model_3_ptm, model_3_multimer_v3 or (v1) model_3_multimer."""
    return f"model_{number}{_SUFFIXES[preset]}"


def alphafold_config(name: str, model_config: str, *, for_weights: bool = False, templates: bool = False):
    """The `alphafold` ConfigDict for parameter set `name` (e.g. 'model_1_ptm') under `model_config`.

    With `for_weights`, the configuration describes the parameters exactly as the official files
    store them (templates; triangle multiplications unfused in the monomer and multimer v1/v2 files, fused
    in the multimer v3 ones); otherwise it is a network this project runs: template-free (shared by all five
    models of a preset), or with `templates` the template-aware one (AlphaFold's own template
    settings: template torsion angles as extra MSA rows, the MSA clusters reduced to make room).
    """
    from alphafold.model import config as af_config

    if model_config not in MODEL_CONFIGS:
        raise ConfigError(f"model config '{model_config}' is unknown; expected one of {', '.join(MODEL_CONFIGS)}")
    cfg = af_config.model_config(name)
    multimer = cfg.model.global_config.multimer_mode
    evo = cfg.model.embeddings_and_evoformer
    if model_config == "reduced":
        evo.evoformer_num_block = _REDUCED["evoformer_num_block"]
        evo.extra_msa_stack_num_block = _REDUCED["extra_msa_stack_num_block"]
        if multimer:
            evo.num_msa, evo.num_extra_msa = _REDUCED["max_msa_clusters"], _REDUCED["max_extra_msa"]
        else:
            cfg.data.eval.max_msa_clusters = _REDUCED["max_msa_clusters"]
            cfg.data.common.max_extra_msa = _REDUCED["max_extra_msa"]
    if for_weights:
        if not name.endswith("_multimer_v3"):
            for stack in (evo.evoformer, evo.template.template_pair_stack):
                stack.triangle_multiplication_incoming.fuse_projection_weights = False
                stack.triangle_multiplication_outgoing.fuse_projection_weights = False
        return cfg
    # The networks this project runs: one ensemble, heads nobody reads switched off.
    evo.template.enabled = templates
    if multimer:
        cfg.model.num_ensemble_eval = 1
        cfg.model.split_msa_sampling = True  # the MSA is sampled outside the network: one compile per length
    else:
        cfg.data.common.use_templates = templates
        cfg.data.common.reduce_msa_clusters_by_max_templates = templates
        evo.template.embed_torsion_angles = templates
        cfg.data.eval.num_ensemble = 1
    for head in ("distogram", "masked_msa", "experimentally_resolved"):
        cfg.model.heads[head].weight = 0.0
    return cfg


def network_config(preset: str, model_config: str, bfloat16: bool = True, templates: bool = False):
    """The network the models of a preset run through: template-free, or with `templates` the one
    the template-aware models (template_models) run through when a job has templates.

    As in ColabFold, models 1-5 differ here only in their parameters: the template modules of
    models 1-2 are unused without templates, and all use model 3's 5,120 extra MSA rows, so a
    single compiled function serves every model. `bfloat16` (the default, as in ColabFold) runs
    the network in bfloat16 where the fork supports it; False runs it in float32.
    """
    if preset not in MODEL_PRESETS:
        raise ConfigError(f"model preset '{preset}' is unknown; expected one of {', '.join(MODEL_PRESETS)}")
    cfg = alphafold_config(model_name(3, preset), model_config, templates=templates)
    cfg.model.global_config.bfloat16 = bfloat16
    return cfg


def network_msa_crops(preset: str, model_config: str) -> tuple[int, int]:
    """The most alignment rows the network reads: (MSA clusters, extra MSA rows)."""
    cfg = network_config(preset, model_config)
    if is_multimer(preset):
        evo = cfg.model.embeddings_and_evoformer
        return int(evo.num_msa), int(evo.num_extra_msa)
    return int(cfg.data.eval.max_msa_clusters), int(cfg.data.common.max_extra_msa)
