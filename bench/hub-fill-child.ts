// The child process of bench/hub-fill.mjs: the action's own Hub client resolving a model and
// filling a huggingface_hub cache for it, as the Hugging Face stage does. Bundled with ncc by
// the bench, as the action is, and run under Node 24.
// Usage (bundled): node index.js <endpoint> <model id> <hub cache>
import { HubClient } from '../src/hub/client.js';
import { filesToFetch } from '../src/hub/files.js';

const [endpoint = '', id = '', hubCache = ''] = process.argv.slice(2);
const started = process.hrtime.bigint();
const client = new HubClient(endpoint, '');
const { sha, files } = await client.resolve(id, 'main');
const report = await client.fill(hubCache, id, 'main', sha, files);
console.log(JSON.stringify({ ...report, sha, fetched: filesToFetch(files).map((f) => f.rfilename), wallMs: Number(process.hrtime.bigint() - started) / 1e6 }));
