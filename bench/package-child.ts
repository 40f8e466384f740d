// The child process of bench/package.mjs: runs the action's own packaging stage (listing, zip
// writer, hashing, splitting, manifest, SHA256SUMS) on an output folder, as main.ts calls it.
// bench/package.mjs bundles this file with ncc, as the action is bundled, and runs it under Node 24.
// Usage (bundled): node index.js <workspace> <output-dir relative to it> <max-asset-size>
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseInputs } from '../src/inputs/parse.js';
import type { InputName } from '../src/inputs/names.js';
import { packageOutputs } from '../src/package/stage.js';

const [workspace = '', outputDir = '', maxAssetSize = '1.9GiB'] = process.argv.slice(2);
const inputs: Partial<Record<InputName, string>> = {
  'model-version': 'runwayml/stable-diffusion-v1-5',
  'hf-token': 'hf_bench',
  'output-dir': outputDir,
  'max-asset-size': maxAssetSize,
  'attention-implementation': 'SPLIT_EINSUM',
};
const parsed = parseInputs((name) => inputs[name] ?? '', {
  env: { RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64', RUNNER_TEMP: path.join(workspace, 'runner-temp'), GITHUB_WORKSPACE: workspace },
  actionRoot: workspace,
  isDirectory: (p) => fs.existsSync(p) && fs.statSync(p).isDirectory(),
  isFile: (p) => fs.existsSync(p) && fs.statSync(p).isFile(),
});
if (!parsed.config) throw new Error(parsed.errors.join('\n'));
const started = Date.now();
const result = await packageOutputs({ config: parsed.config, models: [], verdicts: [] });
const wallMs = Date.now() - started;
process.stdout.write(
  `${JSON.stringify({
    wallMs,
    maxRssKiB: process.resourceUsage().maxRSS,
    dir: result.dir,
    files: result.files.map(({ name, size, sha256 }) => ({ name, size, sha256 })),
    zips: result.archives.map(({ name, size, sha256 }) => ({ name, size, sha256 })),
  })}\n`,
);
