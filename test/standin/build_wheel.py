#!/usr/bin/env python3
"""Build the STAND-IN python_coreml_stable_diffusion package into a wheel, offline.

Usage: python3 build_wheel.py OUTDIR

Writes OUTDIR/python_coreml_stable_diffusion-1.1.0+standin-py3-none-any.whl using only
the standard library (no `wheel`, no setuptools, no network) and prints the wheel's path
as the last line on stdout. The wheel is reproducible: same sources, same bytes.
Install it with `pip install --no-index --no-deps WHEEL`.
"""

import base64
import hashlib
import os
import sys
import zipfile

NAME = "python_coreml_stable_diffusion"
VERSION = "1.1.0+standin"
HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.join(HERE, NAME)
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
WHEEL_NAME = f"{NAME}-{VERSION}-py3-none-any.whl"
FIXED_TIME = (2025, 7, 3, 0, 0, 0)  # upstream 1.1.0 release day; keeps the zip reproducible

METADATA = f"""\
Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: STAND-IN for apple/ml-stable-diffusion's python_coreml_stable_diffusion, used only by tests (converts nothing)
Home-page: https://github.com/apple/ml-stable-diffusion
License: test fixture
Requires-Python: >=3.8
Description-Content-Type: text/plain

This wheel is NOT Apple's converter. It is a standard-library-only stand-in that imitates
the command line, output names and log lines of
`python -m python_coreml_stable_diffusion.torch2coreml` and `...chunk_mlprogram`,
writing fake .mlpackage folders. It exists for the test suite of a GitHub Action.
"""

WHEEL = """\
Wheel-Version: 1.0
Generator: standin-build_wheel (1.0)
Root-Is-Purelib: true
Tag: py3-none-any
"""


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _package_files():
    files = []
    for root, dirs, names in os.walk(PACKAGE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(root, name)
            arc = os.path.relpath(full, HERE).replace(os.sep, "/")
            files.append((arc, full))
    return files


def _add(zf, arcname, data, records):
    info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)
    if records is not None:
        records.append(f"{arcname},{_record_hash(data)},{len(data)}")


def build(outdir):
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, WHEEL_NAME)
    tmp = path + ".part"
    records = []
    with zipfile.ZipFile(tmp, "w") as zf:
        for arc, full in _package_files():
            with open(full, "rb") as f:
                _add(zf, arc, f.read(), records)
        _add(zf, f"{DIST_INFO}/METADATA", METADATA.encode("utf-8"), records)
        _add(zf, f"{DIST_INFO}/WHEEL", WHEEL.encode("utf-8"), records)
        _add(zf, f"{DIST_INFO}/top_level.txt", (NAME + "\n").encode("utf-8"), records)
        records.append(f"{DIST_INFO}/RECORD,,")
        _add(zf, f"{DIST_INFO}/RECORD", ("\n".join(records) + "\n").encode("utf-8"), None)
    os.replace(tmp, path)
    return path


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: python3 build_wheel.py OUTDIR\n")
        return 2
    path = build(argv[1])
    print(os.path.abspath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
