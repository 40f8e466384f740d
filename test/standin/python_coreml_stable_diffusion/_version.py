# Stand-in: the real package keeps its version here too (imported by torch2coreml).
__version__ = "1.1.0"
