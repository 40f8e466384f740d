"""Hooks for parity.py's check half run as a process of its own (test_parity.py,
test_parity_check_real.py): standard library only, and importing no converter, so that the process
sees the converter exactly as its sys.path has it. A module, not a test file (not test_*.py)."""

import os


def reference(converter, args, package_part, seed):
    """A PyTorch half: 64 float16 inputs, the output a fixed function of them (as float32)."""
    values = [((i * 37) % 64) / 32.0 - 1.0 for i in range(64)]
    return {"inputs": {"x": ("<f2", (1, 64), values)}, "output_name": "y",
            "output": ("<f4", (1, 64), [2 * v + 0.25 for v in values])}


def coreml(package, compute_unit, inputs):
    """A Core ML half: the reference's function of its input, plus a constant error of
    os.environ["TEST_PARITY_ERROR"]; numpy float32 arrays where TEST_PARITY_NUMPY is set (as Core ML
    gives them), else a flat list."""
    error = float(os.environ.get("TEST_PARITY_ERROR", "0"))
    out = [2 * v + 0.25 + error for v in inputs["x"].values()]
    if os.environ.get("TEST_PARITY_NUMPY"):
        import numpy as np
        return {"y": np.asarray(out, dtype=np.float32).reshape(1, 64)}
    return {"y": out}
