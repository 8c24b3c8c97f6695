"""The benchmark layer set of DESIGN.md (defined once, in fastconv.bench)."""
from fastconv.bench import LAYERS, forward_flops, make_inputs, output_hw  # noqa: F401
