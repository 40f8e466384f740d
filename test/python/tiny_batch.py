"""Runs several of this folder's tiny-model writers in one process, so that torch, diffusers and peft
are imported once rather than once per file (seconds each):

  python tiny_batch.py SCRIPT ARG... [-- SCRIPT ARG...]...

SCRIPT is tiny_single_file or tiny_lora; each runs in the order given as its own command line would
(its main(argv)), and writes what it writes. The first one that fails stops the batch, with its exit
status (or message).
"""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SCRIPTS = ("tiny_single_file", "tiny_lora")


def batches(argv):
    """[SCRIPT, ARG..., '--', SCRIPT, ARG...] -> [(SCRIPT, [ARG...]), ...]"""
    out, current = [], []
    for arg in [*argv, "--"]:
        if arg != "--":
            current.append(arg)
            continue
        if not current:
            raise SystemExit("tiny_batch: an empty command (two -- in a row, or none at all)")
        if current[0] not in SCRIPTS:
            raise SystemExit(f"tiny_batch: {current[0]} is none of {', '.join(SCRIPTS)}")
        out.append((current[0], current[1:]))
        current = []
    return out


def main(argv=None):
    for script, args in batches(sys.argv[1:] if argv is None else argv):
        code = importlib.import_module(script).main(args)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
