// Azurite (the Azure Storage emulator, npm `azurite`, pinned ~3.35.0 for Node 20) as the blob
// store behind the local cache and artifact services. Started as its own process group on
// 127.0.0.1 with a free port, in memory, and stopped by killing the whole group.
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Azurite's well-known development account (from Azurite's README; not a secret). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/**
 * @typedef {{
 *   url: string, host: string, port: number, accountName: string, accountKey: string,
 *   connectionString: string, pid: number, stop: () => Promise<void>
 * }} Azurite
 */

/** @returns {Promise<number>} a port that was free a moment ago on 127.0.0.1 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @param {number} port
 * @returns {Promise<boolean>} whether Azurite answers HTTP on that port (any status counts)
 */
function answers(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/${AZURITE_ACCOUNT_NAME}?comp=list`, timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** @param {number} pgid */
function killGroup(pgid, signal = /** @type {NodeJS.Signals} */ ('SIGTERM')) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/**
 * Starts azurite-blob in memory on 127.0.0.1 and a free port, and waits until it answers.
 * @param {{ port?: number, timeoutMs?: number, log?: boolean }} [options] `log` keeps its
 *   access log on this process's stderr (it is --silent otherwise)
 * @returns {Promise<Azurite>}
 */
export async function startAzurite(options = {}) {
  const bin = realpathSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'azurite-blob'));
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port ?? (await freePort());
    const location = mkdtempSync(path.join(os.tmpdir(), 'azurite-'));
    const args = [
      bin, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--inMemoryPersistence',
      '--skipApiVersionCheck', '--disableTelemetry', '--disableProductStyleUrl',
    ];
    // Not --location: Azurite 3.35 refuses it together with --inMemoryPersistence. The temp
    // folder is its working directory instead, so nothing lands in the repository.
    if (!options.log) args.push('--silent');
    // detached: its own process group, so stop() can kill it and anything it spawned.
    const child = spawn(process.execPath, args, {
      cwd: location, detached: true, stdio: ['ignore', options.log ? 'inherit' : 'ignore', 'pipe'],
    });
    const pid = /** @type {number} */ (child.pid);
    let stderr = '';
    child.stderr?.on('data', (/** @type {Buffer} */ d) => {
      stderr += d.toString();
      if (options.log) process.stderr.write(d);
    });
    /** @type {number | null} */
    let exitCode = null;
    let exited = false;
    const exitPromise = new Promise((resolve) => child.on('exit', (code) => {
      exited = true;
      exitCode = code;
      resolve(undefined);
    }));
    // If this process dies without calling stop(), take Azurite with it.
    const onExit = () => killGroup(pid, 'SIGKILL');
    process.on('exit', onExit);

    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    let up = false;
    while (!exited && Date.now() < deadline) {
      if (await answers(port)) {
        up = true;
        break;
      }
      await sleep(100);
    }
    if (up) {
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        killGroup(pid, 'SIGTERM');
        const timer = sleep(5000).then(() => 'timeout');
        if ((await Promise.race([exitPromise, timer])) === 'timeout') {
          killGroup(pid, 'SIGKILL');
          await exitPromise;
        }
        // Whatever else is left in the group (nothing, normally).
        killGroup(pid, 'SIGKILL');
        process.off('exit', onExit);
        rmSync(location, { recursive: true, force: true });
      };
      const url = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME}`;
      return {
        url, host: '127.0.0.1', port, pid, accountName: AZURITE_ACCOUNT_NAME, accountKey: AZURITE_ACCOUNT_KEY,
        connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${url};`,
        stop,
      };
    }
    killGroup(pid, 'SIGKILL');
    if (!exited) await exitPromise;
    process.off('exit', onExit);
    rmSync(location, { recursive: true, force: true });
    lastError = `azurite-blob on port ${port} ${exited ? `exited with ${exitCode}` : 'did not answer in time'}: ${stderr.trim().slice(-2000)}`;
    if (options.port) break;
  }
  throw new Error(lastError);
}

export { alive as processAlive };
