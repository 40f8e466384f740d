import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NODE24, SYSTEM_NODE, nodeMajor, runAction, type ActionRun } from '../support/action-runner.mjs';
import { sdPipelineFiles, standinJobEnv } from '../support/standin.mjs';
import { startHubServer, type HubServer } from '../services/hub-server.mjs';

/**
 * Hub downloads over TLS, through the built action as the runner runs it: the stand-in Hub and
 * its CDN host (127.0.0.2) serve HTTPS with a certificate from a CA made here for this run
 * (openssl), which the job trusts through NODE_EXTRA_CA_CERTS, as a runner behind a TLS-inspecting
 * gateway would. A gated model stored as 'lfs': the token goes to the Hub, its weights come from
 * the CDN over another TLS connection (which refuses a request carrying the token).
 */
const MODEL = 'acme/sd-tls';
const MB = 1024 * 1024;
const UNET = 'unet/diffusion_pytorch_model.fp16.safetensors';
const FILES = sdPipelineFiles({ unet: 24 * MB, vae: 3 * MB, textEncoder: 12 * MB });
const OPENSSL = '/usr/bin/openssl';

const root = path.join(os.tmpdir(), `coreml-hub-tls-${process.pid}`);
const pki = path.join(root, 'pki');
let hub: HubServer;

const at = (name: string) => path.join(pki, name);
const openssl = (args: string[]) => execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A throwaway CA, made for this run. */
function makeCa(): string {
  mkdirSync(pki, { recursive: true });
  openssl(['req', '-x509', ...EC, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2', '-subj', '/CN=coreml-action test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return at('ca.pem');
}

/** A server certificate the CA signed for the given IP addresses (subjectAltName). */
function serverCertificate(name: string, ips: string[]): { key: string; cert: string } {
  openssl(['req', ...EC, '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', `/CN=${name}`]);
  writeFileSync(at(`${name}.ext`), `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', at(`${name}.csr`), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-set_serial', String(Date.now()), '-days', '2',
    '-extfile', at(`${name}.ext`), '-out', at(`${name}.pem`)]);
  return { key: readFileSync(at(`${name}.key`), 'utf8'), cert: readFileSync(at(`${name}.pem`), 'utf8') };
}

let caFile = '';
/** A Hub whose certificate does not name its CDN host (127.0.0.2). */
let misnamed: HubServer;
beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  caFile = makeCa();
  const models = [{ id: MODEL, files: FILES, storage: 'lfs' as const, gated: true }];
  hub = await startHubServer({ models, tls: serverCertificate('hub', ['127.0.0.1', '127.0.0.2']) });
  misnamed = await startHubServer({ models, tls: serverCertificate('hub-only', ['127.0.0.1']) });
});
afterAll(async () => {
  await hub?.stop();
  await misnamed?.stop();
  rmSync(root, { recursive: true, force: true });
});

let jobs = 0;
/** A job on its own runner paths and Hub cache, with the stand-in converter. */
async function job(node: string, env: Record<string, string>, server = hub): Promise<{ run: ActionRun; hubCache: string }> {
  const dir = path.join(root, `job-${++jobs}`);
  for (const d of ['runner', 'workspace', 'home']) mkdirSync(path.join(dir, d), { recursive: true });
  const hubCache = path.join(dir, 'hub-cache');
  const run = await runAction({
    inputs: { 'model-version': MODEL, 'hf-token': server.token, python: inject('venvPython'), 'ml-stable-diffusion': inject('standinWheel'), package: 'false', cache: 'false' },
    env: { ...standinJobEnv(server, path.join(dir, 'home'), path.join(dir, 'calls.jsonl')), HF_HUB_CACHE: hubCache, ...env },
    workspace: path.join(dir, 'workspace'),
    runnerDir: path.join(dir, 'runner'),
    node,
  });
  return { run, hubCache };
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const errors = (run: ActionRun) => run.annotations.filter((a) => a.level === 'error').map((a) => a.message);

describe.each([
  ['Node 20', SYSTEM_NODE, 20],
  ['Node 24', NODE24, 24],
])('Hub downloads over TLS under %s', (_name, node, major) => {
  it('fills the cache from the Hub and its CDN over TLS, every file with its sha256, a dropped connection resumed', async () => {
    expect(nodeMajor(node)).toBe(major);
    expect(hub.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    hub.resetStats();
    hub.dropNext(UNET, 4 * MB + 321);
    const { run, hubCache } = await job(node, { NODE_EXTRA_CA_CERTS: caFile });
    expect(run.exitCode, run.stderr + run.stdout.slice(-3000)).toBe(0);
    expect(errors(run)).toEqual([]);

    const sha = hub.resolve(MODEL);
    const snapshot = path.join(hubCache, `models--${MODEL.replace('/', '--')}`, 'snapshots', sha);
    const listed = hub.files(MODEL);
    expect(Object.keys(listed).sort()).toEqual(Object.keys(FILES).sort());
    for (const [file, facts] of Object.entries(listed)) expect(sha256(path.join(snapshot, file)), file).toBe(facts.sha256);

    // The weights came from the CDN host (the Hub only redirects for them), which answers 400 to
    // a request with an Authorization header: the job passing means the token stayed with the Hub.
    const weights = Object.keys(FILES).filter((f) => f.endsWith('.safetensors'));
    const downloads = hub.stats().downloads;
    for (const file of weights) expect(downloads.filter((d) => d.path === file && d.status >= 400), file).toEqual([]);
    // The drop: the first try cut after 4 MiB, the second asked for the rest with Range.
    const unet = downloads.filter((d) => d.path === UNET);
    expect(unet.map((d) => d.status)).toEqual([200, 206]);
    const [first, second] = unet as [(typeof unet)[0], (typeof unet)[0]];
    expect(first.bytes).toBe(4 * MB + 321);
    expect(second.start).toBeGreaterThan(4 * MB - 256 * 1024);
    expect(second.start).toBeLessThanOrEqual(first.bytes);
    expect(second.start + second.bytes).toBe(24 * MB);
  });

  it('without the CA: the Hub cannot be asked, and the warning names the host, the certificate problem and NODE_EXTRA_CA_CERTS', async () => {
    const { run } = await job(node, {});
    const warning = run.annotations.find((a) => a.level === 'warning' && a.message.startsWith(`Could not resolve ${MODEL}@main`))?.message;
    // Node 24 adds a hint of its own (--use-system-ca) before the code.
    expect(warning).toContain(`the TLS certificate of ${new URL(hub.endpoint).host} is not trusted on this machine: unable to verify the first certificate`);
    expect(warning).toContain('(UNABLE_TO_VERIFY_LEAF_SIGNATURE)');
    expect(warning).toContain('NODE_EXTRA_CA_CERTS');
    // The converter (Python, which does not trust that CA either) cannot download the model itself.
    expect(run.exitCode).toBe(1);
    expect(errors(run).join('\n')).toMatch(/Cannot load model acme\/sd-tls/);
  });

  it('a CDN host its certificate does not name: the downloads stop, and the warning names the file, the host and why', async () => {
    const { run } = await job(node, { NODE_EXTRA_CA_CERTS: caFile }, misnamed);
    const warning = run.annotations.find((a) => a.level === 'warning' && a.message.startsWith('Downloading from the Hub failed'))?.message;
    expect(warning).toMatch(/^Downloading from the Hub failed \((unet|text_encoder|vae)\/[\w.]+\.fp16\.safetensors: the TLS certificate 127\.0\.0\.2:\d+ presented is not for that host: Hostname\/IP does not match certificate's altnames/);
    expect(warning).toContain('(ERR_TLS_CERT_ALTNAME_INVALID)');
    // The resolve went through (the Hub's own name is in the certificate); the converter cannot download either.
    expect(run.annotations.filter((a) => a.message.startsWith('Could not resolve'))).toEqual([]);
    expect(run.exitCode).toBe(1);
  });
});
