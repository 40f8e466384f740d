// Benchmark (issue 11, 19): publishing a 4 GiB variant to the Hub, the action (publishToHub: tree
// listing, plan, one commit of its own over classic LFS multipart, by the sha256 packaging
// computed; the child computes them first, timed apart, as a stand-in for packaging) against
// huggingface_hub's own upload_folder (0.24.6, real, from PyPI, its default 5 threads) on the
// same stand-in Hub (test/services/hub-server.mjs: uploads streamed to disk and hashed). Each
// uploads the same generated folder (two zips and a third, and the small manifest files) into a
// repository of its own, so neither benefits from the other's objects; two rounds, alternating,
// the best of each compared. Then each publishes the same folder again to its repository: no
// commit (the action by its plan, huggingface_hub by its preupload oids). Prints wall times,
// the ratios huggingface_hub/action (above 1: the action is faster) and both peak RSS.
// The stand-in's LFS part size (the multipart chunk_size it hands out) is --part-mib (default 64).
// Usage: node bench/hub-upload.mjs [--gib 4] [--part-mib 64]
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NODE24, REPO_ROOT } from '../test/support/action-runner.mjs';
import { startHubServer } from '../test/services/hub-server.mjs';
import { timed } from './timed.mjs';

const GiB = 1024 ** 3;
const scaleArg = process.argv.indexOf('--gib');
const gib = scaleArg > 0 ? Number(process.argv[scaleArg + 1]) : 4;
const total = Math.round(gib * GiB);
const partArg = process.argv.indexOf('--part-mib');
const partMiB = partArg > 0 ? Number(process.argv[partArg + 1]) : 64;
const data = path.join(REPO_ROOT, '.tmp', 'bench-hub-upload', `${gib}gib`);
const root = path.join(os.tmpdir(), `coreml-bench-hub-upload-${process.pid}`);
const python = path.join(REPO_ROOT, '.venv', 'bin', 'python');
const PREFIX = 'original/compiled';

/** The variant's files: what packaging puts in the Hub folder (sizes scaled to `total`). */
function layout() {
  return {
    'coreml-sd_original_compiled.zip': Math.round(total * 0.52),
    'coreml-sd_original_packages.zip': Math.round(total * 0.43),
    'coreml-sd_original_controlnet_compiled.zip': Math.round(total * 0.05),
    'manifest.json': 4_000,
    SHA256SUMS: 300,
  };
}

/** Writes the folder once (deterministic bytes: AES-CTR keystream seeded by the name); kept in .tmp for the next run. */
function generate() {
  const spec = JSON.stringify(layout());
  const marker = `${data}.spec`; // beside the folder: not one of its files
  if (existsSync(marker) && readFileSync(marker, 'utf8') === spec) return;
  rmSync(data, { recursive: true, force: true });
  mkdirSync(data, { recursive: true });
  const zeros = Buffer.alloc(4 << 20);
  for (const [name, size] of Object.entries(layout())) {
    const key = createHash('sha256').update(`${name}:${size}`).digest().subarray(0, 16);
    const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    const fd = openSync(path.join(data, name), 'w');
    for (let done = 0; done < size;) {
      const n = Math.min(zeros.length, size - done);
      writeSync(fd, cipher.update(zeros.subarray(0, n)));
      done += n;
    }
    closeSync(fd);
  }
  writeFileSync(marker, spec);
}

const s = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(1)} s`;
const mib = (/** @type {number | null} */ kib) => (kib ? `${(kib / 1024).toFixed(0)} MiB` : '?');

if (!existsSync(python)) throw new Error(`${python} is missing: run node scripts/python-env.mjs first`);
generate();
mkdirSync(root, { recursive: true });
const hub = await startHubServer({ clip: false, storeDir: path.join(root, 'store'), partSize: partMiB * 1024 * 1024 });
try {
  const out = path.join(root, 'child');
  execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'ncc'), ['build', path.join(REPO_ROOT, 'bench', 'hub-upload-child.ts'), '-o', out, '--target', 'es2022', '-q'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const node = existsSync(NODE24) ? NODE24 : process.execPath;
  const script = [
    'import sys',
    'from huggingface_hub import HfApi',
    'api = HfApi(endpoint=sys.argv[1], token=sys.argv[2])',
    'api.create_repo(sys.argv[3], exist_ok=True)',
    "api.upload_folder(repo_id=sys.argv[3], folder_path=sys.argv[4], path_in_repo=sys.argv[5], commit_message='Upload ' + sys.argv[5])",
  ].join('\n');
  const pyEnv = { HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_ENABLE_HF_TRANSFER: '0', HF_HUB_OFFLINE: '0' };
  /** @param {'action' | 'hf'} who @param {string} repo */
  const upload = (who, repo) => (who === 'action'
    ? timed([node, path.join(out, 'index.js'), hub.endpoint, hub.writeToken, repo, data, PREFIX])
    : timed([python, '-c', script, hub.endpoint, hub.writeToken, repo, data, PREFIX], { env: pyEnv }));
  const local = Object.keys(layout()).length;
  /** @param {string} repo */
  const check = (repo) => {
    const files = hub.files(repo);
    const got = Object.entries(files).filter(([p]) => p.startsWith(`${PREFIX}/`));
    const bytes = got.reduce((sum, [, f]) => sum + f.size, 0);
    if (got.length !== local || bytes < total) throw new Error(`${repo} holds ${got.length} files, ${bytes} bytes; expected ${local} files, at least ${total}`);
  };
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`node ${process.version} (bench), ${node === process.execPath ? process.version : 'v24'} (action); ${os.cpus().length} CPUs (load ${load()}); ${gib} GiB in ${local} files (${data}); LFS parts of ${partMiB} MiB`);
  /** @type {{ action: number[], publish: number[], hf: number[], actionRss: number[], hfRss: number[] }} */
  const times = { action: [], publish: [], hf: [], actionRss: [], hfRss: [] };
  for (let round = 1; round <= 2; round++) {
    /** @type {('action' | 'hf')[]} */
    const order = round === 1 ? ['action', 'hf'] : ['hf', 'action'];
    for (const who of order) {
      const repo = `bench/${who}-${round}`;
      hub.resetStats();
      execFileSync('sync');
      const run = await upload(who, repo);
      check(repo);
      const received = hub.stats().write.lfsBytesReceived;
      const batches = hub.stats().write.lfsBatches;
      const transfer = [...new Set(batches.map((b) => `${b.transfer} (offered ${b.offered.join(', ')})`))].join('; ');
      if (received < total * 0.99) throw new Error(`${who} sent ${received} LFS bytes, expected about ${total}`);
      const report = who === 'action' ? JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') : null;
      if (who === 'action') {
        times.action.push(run.wallMs);
        times.publish.push(report.publishMs);
        if (run.maxRssKiB) times.actionRss.push(run.maxRssKiB);
      } else {
        times.hf.push(run.wallMs);
        if (run.maxRssKiB) times.hfRss.push(run.maxRssKiB);
      }
      const extra = report ? ` (sha256 of the files ${s(report.hashMs)}, peak RSS ${mib(report.hashRssKiB)} by then; publish ${s(report.publishMs)})` : '';
      console.log(`round ${round}: ${who === 'action' ? 'action publish      ' : 'upload_folder       '} ${s(run.wallMs)}${extra}, ${(received / GiB / (run.wallMs / 1000)).toFixed(2)} GiB/s, ${hub.stats().write.requests['lfs-upload'] ?? 0} PUTs, ${transfer}, peak RSS ${mib(run.maxRssKiB)}, ${run.cpuS?.toFixed(1) ?? '?'} s of CPU`);
    }
  }
  // Again, unchanged: neither should send a byte or make a commit.
  /** @type {Record<string, number>} */
  const rerun = {};
  for (const who of /** @type {const} */ (['action', 'hf'])) {
    const repo = `bench/${who}-2`;
    const commits = hub.commits(repo).length;
    hub.resetStats();
    const run = await upload(who, repo);
    const w = hub.stats().write;
    if (hub.commits(repo).length !== commits || w.lfsBytesReceived !== 0) throw new Error(`${who}'s rerun made ${hub.commits(repo).length - commits} commits and sent ${w.lfsBytesReceived} bytes`);
    rerun[who] = run.wallMs;
    const publishMs = who === 'action' ? JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}').publishMs : null;
    if (publishMs !== null) rerun.publish = publishMs;
    console.log(`rerun, unchanged: ${who === 'action' ? 'action publish      ' : 'upload_folder       '} ${s(run.wallMs)}${publishMs !== null ? ` (publish ${s(publishMs)})` : ''}, no commit, no LFS byte`);
  }
  const best = (/** @type {number[]} */ t) => Math.min(...t);
  console.log(`best: action ${s(best(times.action))} (of which publish ${s(best(times.publish))}), huggingface_hub ${s(best(times.hf))}`);
  console.log(`ratio huggingface_hub/action: ${(best(times.hf) / best(times.action)).toFixed(2)} whole process, ${(best(times.hf) / best(times.publish)).toFixed(2)} publish alone (packaging has the sha256 in the action)`);
  console.log(`ratio huggingface_hub/action, unchanged rerun: ${((rerun.hf ?? 0) / (rerun.action ?? 1)).toFixed(2)} whole process, ${((rerun.hf ?? 0) / (rerun.publish ?? 1)).toFixed(2)} publish alone`);
  console.log(`load average after: ${load()} (the stand-in shares the cores with the client measured)`);
  console.log(`peak RSS: action ${mib(Math.max(...times.actionRss))} (target < 200 MiB), huggingface_hub ${mib(Math.max(...times.hfRss))}`);
} finally {
  await hub.stop();
  rmSync(root, { recursive: true, force: true });
}
