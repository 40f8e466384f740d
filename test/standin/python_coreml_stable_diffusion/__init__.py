"""STAND-IN for apple/ml-stable-diffusion's python_coreml_stable_diffusion package.

This is NOT Apple's converter. It is a small, standard-library-only imitation used by
the test suite of this repository: it accepts the same command line as
`python -m python_coreml_stable_diffusion.torch2coreml` and
`python -m python_coreml_stable_diffusion.chunk_mlprogram`, writes the same file names,
and logs the same lines, but the "models" it writes are fakes. See ../README.md.
"""

__version__ = "1.1.0"
