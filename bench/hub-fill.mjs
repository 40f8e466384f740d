// Benchmark (issue 9, item 6): filling the Hugging Face cache for a multi-GB model, the action's
// Hub client (each file checked against its sha256 or git blob id, 8 at a time, resumable)
// against huggingface_hub's own snapshot_download (0.24.6, the converter's pin, real, from PyPI,
// 8 workers) on the same stand-in Hub, which redirects LFS files to its CDN as the Hub does for
// Xet-backed repos. Both fetch the same files (the ones the converter loads) into empty caches;
// each runs --rounds times (default 2), alternating who goes first; the medians and the bests are
// compared. Prints wall and CPU times, the stand-in server's CPU during each run (it runs in this
// process and shares the machine's cores with the client measured), the ratio huggingface_hub/action
// (above 1: the action is faster), the action's peak RSS, and the load average before and after.
// Usage: node bench/hub-fill.mjs [--gib 2.7] [--rounds 2]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NODE24, REPO_ROOT } from '../test/support/action-runner.mjs';
import { startHubServer } from '../test/services/hub-server.mjs';
import { timed } from './timed.mjs';

const GiB = 1024 ** 3;
const MODEL = 'bench/sd-fp16';
const scaleArg = process.argv.indexOf('--gib');
const total = (scaleArg > 0 ? Number(process.argv[scaleArg + 1]) : 2.7) * GiB;
const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 2;
if (!(total > 0) || !Number.isInteger(rounds) || rounds < 1) throw new Error('usage: node bench/hub-fill.mjs [--gib <size, above 0>] [--rounds <whole number, 1 or more>]');
const root = path.join(os.tmpdir(), `coreml-bench-hub-${process.pid}`);
const python = path.join(REPO_ROOT, '.venv', 'bin', 'python');

/** SD 1.5's fp16 layout, scaled to `total` bytes (the unet is most of it, as on the Hub). */
function repository() {
  const share = { unet: 0.64, safety_checker: 0.225, text_encoder: 0.091, vae: 0.044 };
  /** @type {Record<string, string | number>} */
  const files = {
    'model_index.json': '{"_class_name":"StableDiffusionPipeline","_diffusers_version":"0.30.2"}',
    'unet/diffusion_pytorch_model.fp16.safetensors': Math.round(total * share.unet),
    'unet/diffusion_pytorch_model.safetensors': 4096,
    'safety_checker/model.fp16.safetensors': Math.round(total * share.safety_checker),
    'text_encoder/model.fp16.safetensors': Math.round(total * share.text_encoder),
    'vae/diffusion_pytorch_model.fp16.safetensors': Math.round(total * share.vae),
    'scheduler/scheduler_config.json': '{"_class_name":"PNDMScheduler"}',
    'feature_extractor/preprocessor_config.json': '{"crop_size":224}',
    'tokenizer/vocab.json': 1_060_000,
    'tokenizer/merges.txt': 525_000,
    'tokenizer/tokenizer_config.json': '{"model_max_length":77}',
    'tokenizer/special_tokens_map.json': '{"bos_token":"<|startoftext|>"}',
  };
  for (const part of ['unet', 'safety_checker', 'text_encoder', 'vae']) files[`${part}/config.json`] = JSON.stringify({ part });
  return files;
}

/** @param {string} dir @returns {number} bytes of the regular files under dir (links not followed) */
function bytesUnder(dir) {
  let sum = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, name.name);
    if (name.isDirectory()) sum += bytesUnder(full);
    else if (name.isFile()) sum += statSync(full).size;
  }
  return sum;
}

const s = (/** @type {number} */ ms) => `${(ms / 1000).toFixed(1)} s`;

if (!existsSync(python)) throw new Error(`${python} is missing: run node scripts/python-env.mjs first`);
mkdirSync(root, { recursive: true });
const hub = await startHubServer({ clip: false, models: [{ id: MODEL, files: repository(), storage: 'xet' }] });
try {
  // The server hashes each generated file once, on the first listing: not part of either time.
  hub.files(MODEL);
  const out = path.join(root, 'child');
  execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'ncc'), ['build', path.join(REPO_ROOT, 'bench', 'hub-fill-child.ts'), '-o', out, '--target', 'es2022', '-q'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const node = existsSync(NODE24) ? NODE24 : process.execPath;
  // The same file list for both: what the action decided the converter loads (its first run says).
  /** @type {string[]} */
  let wanted = [];
  const script = 'import json, sys\nfrom huggingface_hub import snapshot_download\nsnapshot_download(sys.argv[1], cache_dir=sys.argv[2], allow_patterns=json.loads(sys.argv[3]), max_workers=8)';
  console.log(`node ${process.version} (bench), ${path.basename(path.dirname(path.dirname(node)))} ${node === process.execPath ? process.version : 'v24'} (action); ${os.cpus().length} CPUs; ${(total / GiB).toFixed(2)} GiB, served with a redirect to the CDN`);
  console.log(`load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  /** @type {{ action: number[], hf: number[], rss: number[] }} */
  const times = { action: [], hf: [], rss: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const who of round % 2 === 1 ? ['action', 'hf'] : ['hf', 'action']) {
      const cache = path.join(root, `${who}-${round}`);
      execFileSync('sync');
      const serverBefore = process.cpuUsage();
      const run = who === 'action'
        ? await timed([node, path.join(out, 'index.js'), hub.endpoint, MODEL, cache])
        : await timed([python, '-c', script, MODEL, cache, JSON.stringify(wanted)], { env: { HF_ENDPOINT: hub.endpoint, HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_ENABLE_HF_TRANSFER: '0' } });
      const server = process.cpuUsage(serverBefore);
      if (who === 'action') wanted = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}').fetched;
      const got = bytesUnder(cache);
      if (got < total * 0.99) throw new Error(`${who} wrote ${got} bytes, expected about ${total}`);
      (who === 'action' ? times.action : times.hf).push(run.wallMs);
      if (who === 'action' && run.maxRssKiB) times.rss.push(run.maxRssKiB);
      console.log(`round ${round}: ${who === 'action' ? 'action fill      ' : 'snapshot_download'} ${s(run.wallMs)} (${(got / GiB / (run.wallMs / 1000)).toFixed(2)} GiB/s, ${wanted.length} files, ${run.cpuS?.toFixed(2) ?? '?'} s of CPU; the server ${((server.user + server.system) / 1e6).toFixed(2)} s)`);
      rmSync(cache, { recursive: true, force: true });
    }
  }
  const best = (/** @type {number[]} */ t) => Math.min(...t);
  const median = (/** @type {number[]} */ t) => {
    const sorted = [...t].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  };
  console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`median: action ${s(median(times.action))}, huggingface_hub ${s(median(times.hf))}; best: action ${s(best(times.action))}, huggingface_hub ${s(best(times.hf))}`);
  console.log(`ratio huggingface_hub/action: median ${(median(times.hf) / median(times.action)).toFixed(2)}, best ${(best(times.hf) / best(times.action)).toFixed(2)} (target >= 1.00; the action also checks every file's sha256 or git blob id, huggingface_hub 0.24.6 checks none)`);
  if (times.rss.length) console.log(`peak RSS of the action's process: ${(Math.max(...times.rss) / 1024).toFixed(0)} MiB`);
} finally {
  await hub.stop();
  rmSync(root, { recursive: true, force: true });
}
