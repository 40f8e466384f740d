// The child process of bench/hub-upload.mjs: the action's Hub publish (publishToHub: the tree
// listing, the plan, one commit over classic LFS) of one folder to a repository, as the
// publish stage does for a variant. Bundled with ncc by the bench, as the action is, and run
// under Node 24. The files' sha256 come first (packaging has them in the action: timed apart, and
// the peak RSS by then reported).
// Usage (bundled): node index.js <endpoint> <token> <repo> <folder> <path in repo>
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { publishToHub } from '../src/publish/hub/publish.js';
import type { LocalFile } from '../src/hub/publish-client.js';

const [endpoint = '', token = '', repo = '', folder = '', prefix = ''] = process.argv.slice(2);
const ms = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e6;

const hashing = process.hrtime.bigint();
// One buffer read into again and again: the stand-in for packaging's hashing leaves no garbage to
// inflate the peak RSS measured for the publish (packaging's own is measured by bench/package.mjs).
const buffer = Buffer.alloc(1 << 20);
const files: LocalFile[] = [];
for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const full = path.join(entry.parentPath, entry.name);
  const hash = createHash('sha256');
  const handle = await open(full, 'r');
  try {
    for (let n; (n = (await handle.read(buffer, 0, buffer.length, null)).bytesRead) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    await handle.close();
  }
  files.push({ path: `${prefix}/${path.relative(folder, full).split(path.sep).join('/')}`, size: statSync(full).size, sha256: hash.digest('hex'), sources: [full] });
}
const hashMs = ms(hashing);
// Peak RSS so far (KiB): what the stand-in for packaging's hashing took, before the publish.
const hashRssKiB = process.resourceUsage().maxRSS;

const publishing = process.hrtime.bigint();
const result = await publishToHub({
  target: { repo, revision: 'main', endpoint, token, private: false },
  files, owned: (p) => p.startsWith(`${prefix}/`), title: `Upload ${prefix}`, description: 'bench',
});
console.log(JSON.stringify({ hashMs, hashRssKiB, publishMs: ms(publishing), commit: result.commit?.oid ?? null, uploaded: result.uploaded.length, unchanged: result.unchanged.length }));
