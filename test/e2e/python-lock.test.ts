// The blocking lock check (scripts/lock-check.mjs) against a registry of our own: a folder of
// wheels served on 127.0.0.1 as a PEP 691 simple index, which uv and the check's hash query both
// read. The lock is made by the same uv command the project's locks are made with; then the
// registry back-fills newer releases, as PyPI did.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLock, parseLock } from '../../scripts/lock-check.mjs';
import { uvPath } from '../../scripts/python-locks.mjs';
import { REPO_ROOT } from '../support/action-runner.mjs';

const WHEEL = String.raw`
import base64, hashlib, sys, zipfile
out, name, version, *requires = sys.argv[1:]
dist = f"{name.replace('-', '_')}-{version}"
files = {
    f"{name.replace('-', '_')}/__init__.py": "",
    f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
    f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "".join(f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(c.encode()).digest()).rstrip(b'=').decode()},{len(c.encode())}\n" for p, c in files.items())
files[f"{dist}.dist-info/RECORD"] = record + f"{dist}.dist-info/RECORD,,\n"
with zipfile.ZipFile(f"{out}/{dist}-py3-none-any.whl", "w") as z:
    for p, c in files.items():
        z.writestr(p, c)
`;

const LOCK = { input: 'requirements.in', output: 'requirements.lock', platform: 'x86_64-manylinux_2_28', python: '3.11' };

describe('the blocking lock check depends only on the repository and the files it pins', () => {
  let root: string;
  let registry: string;
  let env: NodeJS.ProcessEnv;
  let server: Server;
  const uv = uvPath(REPO_ROOT);
  const wheel = (name: string, version: string, ...requires: string[]) => execFileSync('python3', ['-c', WHEEL, registry, name, version, ...requires]);
  const compile = async () => {
    await promisify(execFile)(uv, ['pip', 'compile', LOCK.input, '--python-platform', LOCK.platform, '--python-version', LOCK.python, '--generate-hashes', '--no-header', '--quiet', '--upgrade', '-o', LOCK.output], { cwd: root, env });
    return readFileSync(path.join(root, LOCK.output), 'utf8');
  };
  const check = (text: string) => checkLock(LOCK, text, { root, uv, env });

  /** A PEP 691 index of the registry folder: /simple/<name>/ lists every file with its sha256. */
  function serve(): Promise<string> {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const project = /^\/simple\/([^/]+)\/$/.exec(url.pathname)?.[1];
      if (project) {
        const files = readdirSync(registry).filter((f) => f.split('-')[0]?.replace(/_/g, '-') === project).map((filename) => ({
          filename,
          url: `/files/${filename}`,
          hashes: { sha256: createHash('sha256').update(readFileSync(path.join(registry, filename))).digest('hex') },
        }));
        if (files.length === 0) return res.writeHead(404).end();
        res.writeHead(200, { 'Content-Type': 'application/vnd.pypi.simple.v1+json' });
        return res.end(JSON.stringify({ meta: { 'api-version': '1.0' }, name: project, files }));
      }
      const file = /^\/files\/([^/]+)$/.exec(url.pathname)?.[1];
      if (file) return res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(readFileSync(path.join(registry, file)));
      res.writeHead(404).end();
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/simple`);
    }));
  }

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'lock-check-test-'));
    registry = path.join(root, 'registry');
    mkdirSync(registry);
    env = { ...process.env, UV_INDEX_URL: await serve(), UV_CACHE_DIR: path.join(root, 'uv-cache') };
    wheel('app-core', '1.0.0', 'app-util>=1.0');
    wheel('app-util', '1.0.0');
    wheel('app-extra', '1.0.0');
    writeFileSync(path.join(root, LOCK.input), 'app-core>=1.0,<3\n');
  });

  it('passes a lock made by the resolver, and still passes after the registry back-fills newer releases', async () => {
    const lock = await compile();
    expect([...parseLock(lock).pins.keys()].sort()).toEqual(['app-core', 'app-util']);
    expect(await check(lock)).toEqual([]);

    // The back-fill: newer releases, one with a new dependency, appear in the registry.
    wheel('app-core', '2.0.0', 'app-util>=1.0', 'app-extra');
    wheel('app-util', '1.1.0');
    const resolvedNow = await compile();
    expect(resolvedNow).not.toEqual(lock); // re-resolving, the old gate, would have failed here
    expect(resolvedNow).toContain('app-core==2.0.0');
    expect(await check(lock)).toEqual([]);
    // And the re-resolved lock is just as valid.
    expect(await check(resolvedNow)).toEqual([]);
  });

  it('names a dependency the lock lacks, a pin the .in file excludes, a package nothing needs, and a hash of no file', async () => {
    const full = 'app-core==1.0.0 \\\n    --hash=sha256:' + '0'.repeat(64) + '\n';
    const pins = parseLock(compileFresh()).pins;
    const entry = (name: string, version?: string) => {
      const pin = pins.get(name);
      if (!pin) throw new Error(`no ${name}`);
      return [`${name}==${version ?? pin.version}`, ...pin.hashes.map((h) => `    --hash=sha256:${h}`)].join(' \\\n') + '\n';
    };
    expect(await check(entry('app-core'))).toEqual([expect.stringMatching(/^app-util==1\.[01]\.0 is needed by the \.in file but not in the lock$/)]);
    expect(await check(entry('app-core') + entry('app-util') + extraEntry())).toEqual([expect.stringContaining('app-extra==1.0.0 is in the lock but nothing in the .in file needs it')]);
    writeFileSync(path.join(root, LOCK.input), 'app-core>=1.5,<3\n');
    try {
      expect((await check(entry('app-core') + entry('app-util')))[0]).toMatch(/cannot be resolved within the lock's pins/);
    } finally {
      writeFileSync(path.join(root, LOCK.input), 'app-core>=1.0,<3\n');
    }
    // A hash that is not the file's, and a file without its hash.
    expect(await check(full + entry('app-util'))).toEqual([
      `app-core==1.0.0: the hash ${'0'.repeat(12)}… is not that of any file of this version`,
      'app-core==1.0.0: app_core-1.0.0-py3-none-any.whl has no hash in the lock',
    ]);
  });

  it("names a version that differs from the lock it takes its versions from, and a package it must not hold", async () => {
    const pins = parseLock(compileFresh()).pins;
    const entry = (name: string, version?: string) => {
      const pin = pins.get(name);
      if (!pin) throw new Error(`no ${name}`);
      return [`${name}==${version ?? pin.version}`, ...pin.hashes.map((h) => `    --hash=sha256:${h}`)].join(' \\\n') + '\n';
    };
    const lock = entry('app-core') + entry('app-util');
    // The reference pins app-util at another version (and a package of its own platform, not compared).
    writeFileSync(path.join(root, 'reference.lock'), `app-util==1.1.0 \\\n    --hash=sha256:${'1'.repeat(64)}\nplatform-only==1.0 \\\n    --hash=sha256:${'2'.repeat(64)}\n`);
    const spec = { ...LOCK, versionsFrom: 'reference.lock', without: ['app-util'] };
    expect(await checkLock(spec, lock, { root, uv, env })).toEqual([
      'app-util==1.0.0 is in the lock, which must not hold app-util',
      'app-util is pinned at 1.0.0 but reference.lock pins 1.1.0',
    ]);
    writeFileSync(path.join(root, 'reference.lock'), entry('app-util'));
    expect(await checkLock({ ...LOCK, versionsFrom: 'reference.lock', without: ['torch'] }, lock, { root, uv, env })).toEqual([]);
  });

  it('refuses a lock whose form is off before asking the registry', async () => {
    expect(parseLock('app-core==1.0.0\n').problems).toEqual(['app-core==1.0.0 has no sha256 hash']);
    expect(parseLock('app-core>=1.0 \\\n    --hash=sha256:' + 'a'.repeat(64) + '\n').problems[0]).toMatch(/^not pinned as name==version: app-core>=1.0/);
    expect(parseLock('# nothing\n').problems).toEqual(['it pins no package']);
    expect(await check('app-core==1.0.0\n')).toEqual(['app-core==1.0.0 has no sha256 hash']);
  });

  /** The lock as the registry stood before any back-fill (1.0.0 of each). */
  function compileFresh(): string {
    const dir = mkdtempSync(path.join(root, 'fresh-'));
    execFileSync('sh', ['-c', 'cp "$1"/*-1.0.0-*.whl "$2"/', 'sh', registry, dir]);
    execFileSync(uv, ['pip', 'compile', LOCK.input, '--python-platform', LOCK.platform, '--python-version', LOCK.python, '--generate-hashes', '--no-header', '--quiet', '-o', 'fresh.lock'],
      { cwd: root, env: { ...env, UV_INDEX_URL: undefined, UV_NO_INDEX: '1', UV_FIND_LINKS: dir } });
    return readFileSync(path.join(root, 'fresh.lock'), 'utf8');
  }

  function extraEntry(): string {
    const sha = execFileSync('sha256sum', [path.join(registry, 'app_extra-1.0.0-py3-none-any.whl')], { encoding: 'utf8' }).split(' ')[0];
    return `app-extra==1.0.0 \\\n    --hash=sha256:${sha}\n`;
  }
});
