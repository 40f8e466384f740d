"""Runs both ways of converting each part of tiny pipelines with Apple's REAL converter, by hand, and
writes what they wrote: the converter's command line (`-m python_coreml_stable_diffusion.torch2coreml`)
and the action's python/lean_convert.py, same flags, one process each, each into its own -o. Kept
output: test/fixtures/real-converter/lean-<kind>.txt, read by test/unit/lean-fixtures.test.ts.

Not in CI (the real converter never is): run with the scratch venv that holds it
(test/fixtures/real-converter/README.md), from a working directory where `tiny/<kind>` are the
pipelines of test/python/tiny_pipeline.py:

  /tmp/apple-venv/bin/python test/python/lean_equality.py --out test/fixtures/real-converter \
      [--kinds sd,sd21,sdxl] [--parts text_encoder,vae_decoder,vae_encoder,unet,control-unet]

Per case: argv, exit codes, wall time and peak RSS (os.wait4), the listing of each -o, per package
weight.bin's size and sha256, the sha256 of the spec serialized deterministically and model.mlmodel's
sha256 (which differs between any two runs: protobuf map order), and the converter's INFO/WARNING
log lines of each (logger name written as <converter>: `__main__` for -m, the module's name for an
importer).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from compare_packages import describe  # noqa: E402

FLAGS = ["--compute-unit", "ALL", "--attention-implementation", "SPLIT_EINSUM", "--min-deployment-target", "macOS13"]
PART_FLAGS = {"text_encoder": ["--convert-text-encoder"], "vae_decoder": ["--convert-vae-decoder"],
              "vae_encoder": ["--convert-vae-encoder"], "unet": ["--convert-unet"],
              "control-unet": ["--convert-unet", "--unet-support-controlnet"]}
LOG_LINE = re.compile(r"(?:^|\r)((?:INFO|WARNING|ERROR):(?:__main__|python_coreml_stable_diffusion\.torch2coreml):.*)$")


def run(argv, log_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    started = time.time()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.time() - started, usage.ru_maxrss * 1024


def listing(folder):
    lines = []
    for parent, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        rel = os.path.relpath(parent, folder)
        if rel != ".":
            lines.append(f"{rel}/")
        for name in sorted(files):
            path = os.path.join(parent, name)
            lines.append(f"{os.path.relpath(path, folder)} {os.path.getsize(path)}")
    return lines


def log_lines(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    lines = []
    for raw in text.split("\n"):
        m = LOG_LINE.search(raw)
        if m:
            lines.append(re.sub(r"^(\w+):(__main__|python_coreml_stable_diffusion\.torch2coreml):", r"\1:<converter>:", m.group(1)))
    return lines


def case(python, kind, part, work, out):
    name = f"{kind}-{part}"
    flags = ["--model-version", f"tiny/{kind}", *PART_FLAGS[part], *FLAGS, *(["--xl-version"] if kind == "sdxl" else [])]
    report = [f"== case {name}", f"argv: {' '.join(flags)} -o <cli|lean>"]
    results = {}
    for way, runner in (("cli", ["-m", "python_coreml_stable_diffusion.torch2coreml"]),
                        ("lean", [os.path.join(ROOT, "python", "lean_convert.py")])):
        folder = os.path.join(work, f"{name}-{way}")
        shutil.rmtree(folder, ignore_errors=True)
        log = folder + ".log"
        code, wall, peak = run([python, *runner, *flags, "-o", folder], log)
        own = re.search(r"lean_convert: peak RSS (\d+) bytes", open(log, encoding="utf-8", errors="replace").read())
        results[way] = dict(code=code, folder=folder, log=log)
        report.append(f"{way}: exit {code}, wall {wall:.1f} s, peak RSS {peak / 2**20:.0f} MiB"
                      + (f" (its own line: {own.group(1)} bytes)" if own else ""))
    for way in ("cli", "lean"):
        report.append(f"{way} listing:")
        report += [f"  {line}" for line in listing(results[way]["folder"])] if os.path.isdir(results[way]["folder"]) else ["  (none)"]
    cli_pk = {n: describe(os.path.join(results["cli"]["folder"], n)) for n in sorted(os.listdir(results["cli"]["folder"]))
              if n.endswith(".mlpackage")} if os.path.isdir(results["cli"]["folder"]) else {}
    lean_pk = {n: describe(os.path.join(results["lean"]["folder"], n)) for n in sorted(os.listdir(results["lean"]["folder"]))
               if n.endswith(".mlpackage")} if os.path.isdir(results["lean"]["folder"]) else {}
    same_all = bool(cli_pk) and set(cli_pk) == set(lean_pk)
    for pkg in sorted(set(cli_pk) | set(lean_pk)):
        report.append(f"package {pkg}")
        for way, pk in (("cli", cli_pk), ("lean", lean_pk)):
            d = pk.get(pkg)
            if d is None:
                report.append(f"  {way} missing")
                continue
            report.append(f"  {way} weight.bin {d['weight_bin_bytes']} sha256 {d['weight_bin_sha256']}")
            report.append(f"  {way} spec sha256 {d['spec_sha256']}")
            report.append(f"  {way} model.mlmodel sha256 {d['model_mlmodel_sha256']}")
        same = pkg in cli_pk and pkg in lean_pk and all(cli_pk[pkg][k] == lean_pk[pkg][k] for k in ("weight_bin_sha256", "spec_sha256"))
        same_all = same_all and same
        report.append(f"  same weight.bin and spec: {'yes' if same else 'no'}")
    report.append(f"same packages: {'yes' if same_all else 'no'}")
    for way in ("cli", "lean"):
        report.append(f"{way} log:")
        report += [f"  {line}" for line in log_lines(results[way]["log"])]
    return report


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", default="lean-equality")
    parser.add_argument("--kinds", default="sd,sd21,sdxl")
    parser.add_argument("--parts", default="text_encoder,vae_decoder,vae_encoder,unet,control-unet")
    args = parser.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    for kind in args.kinds.split(","):
        lines = [f"# lean_convert.py against the converter's command line, tiny/{kind} (test/python/lean_equality.py)",
                 f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {sys.executable}", ""]
        for part in args.parts.split(","):
            if part == "control-unet" and kind != "sd":
                continue
            lines += case(sys.executable, kind, part, args.work, args.out) + [""]
            print(f"{kind} {part} done", file=sys.stderr, flush=True)
        with open(os.path.join(args.out, f"lean-{kind}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
