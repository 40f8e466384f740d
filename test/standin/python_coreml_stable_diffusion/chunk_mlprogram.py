"""STAND-IN for python_coreml_stable_diffusion.chunk_mlprogram (apple/ml-stable-diffusion).

Splits a (fake) .mlpackage into `<name>_chunk1.mlpackage` and `<name>_chunk2.mlpackage`
the way the coremltools >= 8 code path does, with the same command line and log lines.
Used only by this repository's tests; see ../README.md.
"""

import argparse
import logging
import shutil

from python_coreml_stable_diffusion import _standin

_standin.import_coremltools()

logging.basicConfig()
logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


def main(args):
    # Only the coremltools >= 8 branch exists here (the stand-in pretends coremltools 8.1).
    logger.info(f"Start chunking model {args.mlpackage_path} into two pieces.")
    _standin.bisect_model(
        model=args.mlpackage_path,
        output_dir=args.o,
        merge_chunks_to_pipeline=args.merge_chunks_in_pipeline_model,
        check_output_correctness=args.check_output_correctness,
    )
    logger.info("Model chunking is done.")

    if args.remove_original:
        # Upstream forgot the f-prefix on this message; the braces are printed as-is.
        logger.info("Removing original (non-chunked) model at {args.mlpackage_path}")
        shutil.rmtree(args.mlpackage_path)
        logger.info("Done.")


def parser_spec():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlpackage-path", required=True,
                        help="The .mlpackage to split into two chunks of similar weight size.")
    parser.add_argument("-o", required=True,
                        help="Directory that receives the two chunks.")
    parser.add_argument("--remove-original", action="store_true",
                        help="Delete the input package after chunking.")
    # Upstream passes a tuple as help text here, which makes `--help` crash with a
    # traceback (AttributeError on Python 3.11); the stand-in keeps that behaviour.
    parser.add_argument("--check-output-correctness", action="store_true",
                        help=("Compare the chunked pipeline against the full model (PSNR). ",
                              "Needs more memory."))
    parser.add_argument("--merge-chunks-in-pipeline-model", action="store_true",
                        help="Write one pipeline package holding both chunks instead.")
    return parser


if __name__ == "__main__":
    _standin.record_invocation("python_coreml_stable_diffusion.chunk_mlprogram")
    main(parser_spec().parse_args())
