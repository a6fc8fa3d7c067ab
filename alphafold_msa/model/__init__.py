"""The AlphaFold2 network: configurations, features, parameters, the compiled runner, GPU kernels,
memory, relaxation."""
