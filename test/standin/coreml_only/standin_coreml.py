"""STAND-IN Core ML half for the action's python/parity.py where the converter is NOT installed (the
finishing job of a split conversion: coremltools and numpy only), for tests only.

`PARITY_COREML=standin_coreml:parity_predict` with this folder (and not test/standin) on PYTHONPATH:
the stand-in's parity_predict (python_coreml_stable_diffusion/_standin.py, the same function, the
same figures and the same STANDIN_INVOCATIONS line) without making the stand-in converter package
importable, so parity.py's check half finds no converter and runs its own PSNR and report, as it
does on the finishing runner. _standin.py is standard library only and imports nothing of its
package: it is loaded from its file under its own module name, with no parent package.
"""

import importlib.util
import os
import sys

_NAME = "python_coreml_stable_diffusion._standin"
_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "python_coreml_stable_diffusion", "_standin.py")

_standin = sys.modules.get(_NAME)
if _standin is None:
    _spec = importlib.util.spec_from_file_location(_NAME, _FILE)
    _standin = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _standin
    _spec.loader.exec_module(_standin)

parity_predict = _standin.parity_predict
