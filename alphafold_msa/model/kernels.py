"""Which kernels the network runs with: the fork's fused GPU kernels where they are known to be right.

`ALPHAFOLD_MSA_KERNELS` (`--kernels` for `--local`) chooses among:

- `auto` (the default): plain XLA on a CPU; on a GPU the fused kernels `colabfold_kernels.device.dispatch`
  picks for it (Pallas/Triton from compute capability 8.0, the CUDA legacy kernels below), once a
  self-check (`alphafold_msa.model.kernel_check`) has found them to agree with plain XLA on this GPU;
- `pallas` or `cuda_legacy`: those kernels, unchecked (a GPU is required);
- `xla`: the plain XLA path everywhere.

`ALPHAFOLD_MSA_COMPILE_MODE` sets XLA's GEMM autotuning on a GPU, as ColabFold's `--compile-mode`:
`fast` (cuBLAS only), `tuned` (the default: one fixed Triton tile, no search), `full` (XLA's own search).
Importing this module does not import jax.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from alphafold_msa import settings
from alphafold_msa.errors import ConfigError

FUSED_PATHS = ("pallas", "cuda_legacy")
# XLA's GEMM tile for `tuned` (ColabFold's choice, measured across several NVIDIA cards).
_TUNED_GEMM = "block_m: 64 block_n: 64 block_k: 16 num_stages: 3 num_warps: 4 num_ctas: 1"
# Pallas/Triton kernels need compute capability 8.0 (XLA gates Triton there); older GPUs use the CUDA ones.
_PALLAS_MIN_CAPABILITY = 80


@dataclasses.dataclass(frozen=True)
class Device:
    """The accelerator jax runs on: platform ('cpu', 'gpu'), name and NVIDIA compute capability (e.g. 90)."""

    platform: str
    name: str
    compute_capability: int | None = None


def resolve_kernels(name: str | None) -> str:
    """The kernel choice from the argument, else $ALPHAFOLD_MSA_KERNELS, else 'auto'."""
    return settings.choice(name, settings.KERNELS, "kernels", f" (the --kernels option or {settings.KERNELS.name})")


def resolve_compile_mode(name: str | None) -> str:
    """The compile mode from the argument, else $ALPHAFOLD_MSA_COMPILE_MODE, else 'tuned'."""
    return settings.choice(name, settings.COMPILE_MODE, settings.COMPILE_MODE.name)


def current_device() -> Device:
    """The first jax device, described."""
    import jax

    device = jax.devices()[0]
    capability = None
    if device.platform == "gpu":
        from colabfold_kernels.device import compute_capability

        capability = compute_capability()
    return Device(device.platform, device.device_kind, capability)


def fused_path_for(device: Device) -> str | None:
    """The fused kernels this device can run ('pallas', 'cuda_legacy'), or None (no GPU)."""
    if device.platform != "gpu":
        return None
    capability = device.compute_capability
    return "cuda_legacy" if capability is not None and capability < _PALLAS_MIN_CAPABILITY else "pallas"


def needs_check(requested: str, device: Device) -> str | None:
    """The fused path a self-check must approve before `requested` may use it (only 'auto' on a GPU)."""
    return fused_path_for(device) if requested == "auto" else None


def choose(requested: str, device: Device, check_passed: bool | None = None) -> str:
    """The kernel path to run: 'xla', 'pallas' or 'cuda_legacy'.

    `check_passed` is the self-check's verdict on `needs_check(requested, device)` (None if none ran).
    """
    if requested == "xla":
        return "xla"
    if requested in FUSED_PATHS:
        if device.platform != "gpu":
            raise ConfigError(f"kernels '{requested}' need an NVIDIA GPU; this worker runs jax on "
                              f"{device.platform} (use auto or xla)")
        if requested == "pallas" and (device.compute_capability or 0) < _PALLAS_MIN_CAPABILITY:
            raise ConfigError(f"kernels 'pallas' need compute capability 8.0 or newer; this {device.name} has "
                              f"{device.compute_capability} (use auto, cuda_legacy or xla)")
        return requested
    candidate = fused_path_for(device)
    if candidate is None or not check_passed:
        return "xla"
    return candidate


def global_config_settings(path: str, device: Device) -> dict[str, Any]:
    """The fork's `global_config` fields for kernel path `path` (fused paths need bfloat16)."""
    if path == "xla":
        return {"use_pallas": False}
    return {"use_pallas": True, "kernel_backend": path, "compute_capability": device.compute_capability}


def jit_kwargs(compile_mode: str, device: Device) -> dict[str, Any]:
    """Keyword arguments for `jax.jit` that apply `compile_mode` (GPU only; none on a CPU)."""
    if device.platform != "gpu":
        return {}
    options = {"fast": {"xla_gpu_enable_triton_gemm": False},
               "tuned": {"xla_gpu_override_gemm_autotuner": _TUNED_GEMM},
               "full": None}[compile_mode]
    return {"compiler_options": options} if options else {}
