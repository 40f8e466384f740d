// The hand-off between the convert job and the finishing job (issue 23): the manifest's format,
// the default artifact name, and the comparisons that decide whether a hand-off is taken.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { artifactNameProblem } from '../../src/inputs/publish.js';
import {
  HANDOFF_MANIFEST,
  HandoffError,
  buildManifest,
  caseCollisions,
  compareFiles,
  compareIdentity,
  handoffName,
  parseManifest,
  pathProblem,
  serializeManifest,
  type HandoffFile,
} from '../../src/handoff/manifest.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const file = (p: string, content = p): HandoffFile => ({ path: p, sha256: sha(content), size: Buffer.byteLength(content) });

const IDENTITY = { 'model-version': 'acme/sd', 'compute-unit': 'CPU_AND_NE', 'attention-implementation': 'SPLIT_EINSUM', 'lock-sha256': 'abc' };
const FILES = [
  file('Unet.mlpackage/Manifest.json', '{}'),
  file('.coreml-action/state.json', '{"version":1}'),
  file('Unet.mlpackage/Data/com.apple.CoreML/weights/weight.bin', 'weights'),
  file('.coreml-action/parity/unet/reference.npz', 'npz'),
];

const manifestText = (over: Record<string, unknown> = {}) => JSON.stringify({ version: 1, identity: IDENTITY, files: FILES, ...over });
const refusal = (text: string) => {
  try {
    parseManifest(text);
  } catch (error) {
    expect(error).toBeInstanceOf(HandoffError);
    return (error as Error).message;
  }
  throw new Error('parseManifest took it');
};

describe('buildManifest and serializeManifest', () => {
  it('is version 1, lists the files sorted by path, and reads back as written', () => {
    const manifest = buildManifest(IDENTITY, FILES);
    expect(manifest.version).toBe(1);
    expect(manifest.files.map((f) => f.path)).toEqual([
      '.coreml-action/parity/unet/reference.npz',
      '.coreml-action/state.json',
      'Unet.mlpackage/Data/com.apple.CoreML/weights/weight.bin',
      'Unet.mlpackage/Manifest.json',
    ]);
    const text = serializeManifest(manifest);
    expect(text.endsWith('}\n')).toBe(true);
    expect(parseManifest(text)).toEqual(manifest);
    expect(Object.keys(JSON.parse(text))).toEqual(['version', 'identity', 'files']);
    expect(Object.keys(JSON.parse(text).files[0])).toEqual(['path', 'sha256', 'size']);
  });

  it('sorts by code unit, not by locale (upper case before lower, as on every machine)', () => {
    const manifest = buildManifest({}, [file('b'), file('C'), file('a/z'), file('a.x')]);
    expect(manifest.files.map((f) => f.path)).toEqual(['C', 'a.x', 'a/z', 'b']);
  });

  it('refuses a path that could not travel, naming it', () => {
    expect(() => buildManifest(IDENTITY, [...FILES, file('dir\\win.bin')])).toThrow(/dir\\\\win\.bin.*backslash/);
    expect(() => buildManifest(IDENTITY, [file('a'), file('a')])).toThrow(/"a" is listed twice/);
    expect(() => buildManifest(IDENTITY, [file(HANDOFF_MANIFEST)])).toThrow(/the manifest itself/);
  });

  it('refuses paths that differ in case only (the finishing job\'s macOS file system would hold one)', () => {
    expect(() => buildManifest(IDENTITY, [file('Unet.mlpackage/a.bin'), file('unet.mlpackage/A.bin'), file('b')]))
      .toThrow('"Unet.mlpackage/a.bin" and "unet.mlpackage/A.bin" differ in case only');
    expect(caseCollisions(['a/x', 'b', 'B/b'])).toEqual(['"b" and "B" differ in case only (one name on macOS\'s file system)']);
    expect(caseCollisions(['Unet.mlpackage/Manifest.json', 'unet.mlpackage/Data/w.bin'])).toEqual(['"Unet.mlpackage" and "unet.mlpackage" differ in case only (one name on macOS\'s file system)']);
    expect(caseCollisions(['a/b', 'a/c', 'A.bin', 'x/A', 'y/a'])).toEqual([]);
    expect(caseCollisions(['\u00e9', 'e\u0301'])).toHaveLength(1);
  });
});

describe('pathProblem', () => {
  it('takes plain posix paths relative to the folder', () => {
    for (const p of ['a', 'x.mlpackage/Data/weight.bin', '.coreml-action/parity/unet/in.npz', 'name with spaces/..hidden', 'a..b']) expect(pathProblem(p)).toBeUndefined();
  });
  it.each([
    ['', /empty/],
    ['/etc/passwd', /absolute/],
    ['C:/x', /absolute/],
    ['../outside', /climbs out/],
    ['a/../../b', /climbs out/],
    ['a\\b', /backslash/],
    ['a//b', /empty or \. segment/],
    ['./a', /empty or \. segment/],
    ['a/', /empty or \. segment/],
    ['ab:c', /character ":"/],
    ['a\nb', /character "\\n"/],
  ])('refuses %j', (p, reason) => {
    expect(pathProblem(p)).toMatch(reason);
  });
});

describe('handoffName', () => {
  it('is the prefix and 16 hex of the sha256 of the sorted entries', () => {
    const sorted = Object.entries(IDENTITY).sort(([a], [b]) => (a < b ? -1 : 1));
    expect(handoffName(IDENTITY)).toBe(`coreml-sd-handoff-${sha(JSON.stringify(sorted)).slice(0, 16)}`);
    expect(handoffName(IDENTITY)).toMatch(/^coreml-sd-handoff-[0-9a-f]{16}$/);
  });
  it('does not depend on the order of the entries', () => {
    const reversed = Object.fromEntries(Object.entries(IDENTITY).reverse());
    expect(handoffName(reversed)).toBe(handoffName(IDENTITY));
  });
  it('changes with any value or key, and cannot be forged by moving text between key and value', () => {
    const names = new Set([
      handoffName(IDENTITY),
      handoffName({ ...IDENTITY, 'model-version': 'acme/sd2' }),
      handoffName({ ...IDENTITY, extra: '' }),
      handoffName({ ab: 'c' }),
      handoffName({ a: 'bc' }),
      handoffName({}),
    ]);
    expect(names.size).toBe(6);
  });
  it('passes the artifact service\'s name rules', () => {
    expect(artifactNameProblem(handoffName(IDENTITY))).toBeUndefined(); // the artifact service's rules (inputs/publish.ts)
  });
});

describe('parseManifest', () => {
  it('reads a manifest, with its files in any order (they come back sorted)', () => {
    const manifest = parseManifest(manifestText({ files: [...FILES].reverse() }));
    expect(manifest.identity).toEqual(IDENTITY);
    expect(manifest.files).toEqual(buildManifest(IDENTITY, FILES).files);
  });
  it('refuses text that is not JSON, or not an object', () => {
    expect(refusal('{"version": 1,')).toMatch(/^handoff\.json is not JSON/);
    expect(refusal('[1]')).toMatch(/not a JSON object/);
  });
  it('refuses another version, naming it', () => {
    expect(refusal(manifestText({ version: 2 }))).toMatch(/version 2; this action reads version 1 only/);
    expect(refusal(manifestText({ version: '1' }))).toMatch(/version "1"/);
  });
  it('refuses an identity that is not string -> string', () => {
    expect(refusal(manifestText({ identity: ['a'] }))).toMatch(/identity is not an object/);
    expect(refusal(manifestText({ identity: { ...IDENTITY, 'quantize-nbits': 6 } }))).toMatch(/identity\.quantize-nbits is not a string: 6/);
  });
  it('refuses bad entries, listing every one with its index and path', () => {
    const bad = [
      { path: '/abs/weight.bin', sha256: sha('x'), size: 1 },
      { path: '../up.bin', sha256: sha('x'), size: 1 },
      { path: 'a\\b.bin', sha256: sha('x'), size: 1 },
      { path: 'ok.bin', sha256: 'not-hex', size: 1 },
      { path: 'upper.bin', sha256: sha('x').toUpperCase(), size: 1 },
      { path: 'short.bin', sha256: sha('x').slice(1), size: 1 },
      { path: 'neg.bin', sha256: sha('x'), size: -1 },
      { path: 'frac.bin', sha256: sha('x'), size: 1.5 },
      { path: 7, sha256: sha('x'), size: 1 },
      'a string',
    ];
    const message = refusal(manifestText({ files: bad }));
    expect(message).toMatch(/^handoff\.json is malformed:/);
    expect(message).toContain('files[0].path: "/abs/weight.bin" is absolute');
    expect(message).toContain('files[1].path: "../up.bin" climbs out');
    expect(message).toContain('files[2].path: "a\\\\b.bin" holds a backslash');
    expect(message).toContain('files[3].sha256 ("ok.bin") is not 64 lower-case hex digits: "not-hex"');
    expect(message).toContain('files[4].sha256 ("upper.bin")');
    expect(message).toContain('files[5].sha256 ("short.bin")');
    expect(message).toContain('files[6].size ("neg.bin") is not a byte count: -1');
    expect(message).toContain('files[7].size ("frac.bin") is not a byte count: 1.5');
    expect(message).toContain('files[8].path is not a string');
    expect(message).toContain('files[9] is not an object');
    expect(message.split('\n')).toHaveLength(1 + 10);
  });
  it('refuses files that are not a list, a path twice, and the manifest listing itself', () => {
    expect(refusal(manifestText({ files: {} }))).toMatch(/files is not a list/);
    expect(refusal(manifestText({ files: [FILES[0], FILES[0]] }))).toMatch(/is listed twice/);
    expect(refusal(manifestText({ files: [file(HANDOFF_MANIFEST)] }))).toMatch(/the manifest itself/);
  });
});

describe('compareIdentity', () => {
  it('is empty when the identities agree, whatever the order', () => {
    expect(compareIdentity(IDENTITY, Object.fromEntries(Object.entries(IDENTITY).reverse()))).toEqual([]);
  });
  it('names each differing key with both values: the hand-off\'s, then this job\'s', () => {
    expect(compareIdentity({ ...IDENTITY, 'model-version': 'b' }, { ...IDENTITY, 'model-version': 'a' })).toEqual(['model-version was "a", this job has "b"']);
  });
  it('names keys on one side only, and lists every difference sorted by key', () => {
    const expected = { ...IDENTITY, 'quantize-nbits': '6', 'compute-unit': 'ALL' };
    const got: Record<string, string> = { ...IDENTITY, 'old-key': 'x' };
    delete got['lock-sha256'];
    expect(compareIdentity(expected, got)).toEqual([
      'compute-unit was "CPU_AND_NE", this job has "ALL"',
      'lock-sha256 is not in the hand-off, this job has "abc"',
      'old-key was "x", this job has no old-key (not in its identity)',
      'quantize-nbits is not in the hand-off, this job has "6"',
    ]);
  });
  it('tells an empty value from a missing key', () => {
    expect(compareIdentity({ lora: '' }, {})).toEqual(['lora is not in the hand-off, this job has ""']);
  });
  it('does not take inherited properties for entries', () => {
    expect(compareIdentity({ constructor: 'x' }, {})).toEqual(['constructor is not in the hand-off, this job has "x"']);
  });
});

describe('compareFiles', () => {
  it('is empty when the folder holds exactly the listed files', () => {
    expect(compareFiles(FILES, [...FILES].reverse())).toEqual([]);
  });
  it('names a file with one byte changed (same size, other sha256)', () => {
    const tampered = FILES.map((f) => (f.path.endsWith('weight.bin') ? file(f.path, 'weightz') : f));
    expect(compareFiles(FILES, tampered)).toEqual([
      `changed: Unet.mlpackage/Data/com.apple.CoreML/weights/weight.bin has sha256 ${sha('weightz')}, the manifest lists ${sha('weights')}`,
    ]);
  });
  it('names a file whose size differs (a truncated one), by its size', () => {
    const truncated = FILES.map((f) => (f.path === '.coreml-action/state.json' ? file(f.path, '{"vers') : f));
    expect(compareFiles(FILES, truncated)).toEqual(['changed: .coreml-action/state.json has 6 bytes, the manifest lists 13']);
  });
  it('names a missing file and an extra one', () => {
    const found = [...FILES.filter((f) => f.path !== 'Unet.mlpackage/Manifest.json'), file('Unet.mlpackage/Data/extra.bin')];
    expect(compareFiles(FILES, found)).toEqual([
      'extra: Unet.mlpackage/Data/extra.bin (in the folder, not in the manifest)',
      'missing: Unet.mlpackage/Manifest.json (listed in the manifest, not in the folder)',
    ]);
  });
  it('lists every difference at once', () => {
    expect(compareFiles(FILES, [])).toHaveLength(FILES.length);
    expect(compareFiles([], FILES)).toHaveLength(FILES.length);
  });
});
