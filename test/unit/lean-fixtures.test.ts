// Both ways of converting each part with Apple's REAL converter on tiny pipelines, run by hand
// (test/python/lean_equality.py, test/fixtures/real-converter/README.md): the converter's command
// line and the action's python/lean_convert.py, same flags. The fixture is their real output; this
// test reads it and checks that what it records holds: the same weight.bin and the same spec
// (serialized deterministically) for every part the plan runs lean, and the same converter log
// lines, read by the action's own log parser, but the pipeline-loading ones.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConverterLogParser, type ConverterEvent } from '../../src/converter/log.js';
import { LEAN_PARTS } from '../../src/converter/order.js';
import { ROOT } from './fixtures.js';

const DIR = path.join(ROOT, 'test/fixtures/real-converter');
const SHA = /^[0-9a-f]{64}$/;

interface Way {
  exit: number;
  listing: string[];
  log: string[];
}

interface PackageRecord {
  name: string;
  facts: Record<'cli' | 'lean', { weightBytes: number; weightSha: string; specSha: string } | undefined>;
  recordedSame: boolean;
}

interface CaseRecord {
  name: string;
  argv: string;
  ways: Record<'cli' | 'lean', Way>;
  packages: PackageRecord[];
  recordedSamePackages: boolean;
}

/** Parses one lean-<kind>.txt as lean_equality.py writes it. */
function parse(text: string): CaseRecord[] {
  const cases: CaseRecord[] = [];
  let current: CaseRecord | undefined;
  let section: { way: 'cli' | 'lean'; what: 'listing' | 'log' } | undefined;
  let pkg: PackageRecord | undefined;
  const way = (): Way => ({ exit: NaN, listing: [], log: [] });
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^== case (\S+)$/.exec(line))) {
      current = { name: m[1]!, argv: '', ways: { cli: way(), lean: way() }, packages: [], recordedSamePackages: false };
      cases.push(current);
      section = undefined;
      pkg = undefined;
      continue;
    }
    if (!current) continue;
    if ((m = /^argv: (.*)$/.exec(line))) current.argv = m[1]!;
    else if ((m = /^(cli|lean): exit (-?\d+),/.exec(line))) current.ways[m[1] as 'cli' | 'lean'].exit = Number(m[2]);
    else if ((m = /^(cli|lean) (listing|log):$/.exec(line))) section = { way: m[1] as 'cli' | 'lean', what: m[2] as 'listing' | 'log' };
    else if ((m = /^package (\S+)$/.exec(line))) {
      section = undefined;
      pkg = { name: m[1]!, facts: { cli: undefined, lean: undefined }, recordedSame: false };
      current.packages.push(pkg);
    } else if (pkg && (m = /^ {2}(cli|lean) weight\.bin (\d+) sha256 (\S+)$/.exec(line))) {
      pkg.facts[m[1] as 'cli' | 'lean'] = { weightBytes: Number(m[2]), weightSha: m[3]!, specSha: '' };
    } else if (pkg && (m = /^ {2}(cli|lean) spec sha256 (\S+)$/.exec(line))) {
      const facts = pkg.facts[m[1] as 'cli' | 'lean'];
      if (facts) facts.specSha = m[2]!;
    } else if (pkg && (m = /^ {2}same weight\.bin and spec: (yes|no)$/.exec(line))) pkg.recordedSame = m[1] === 'yes';
    else if ((m = /^same packages: (yes|no)$/.exec(line))) current.recordedSamePackages = m[1] === 'yes';
    else if (section && line.startsWith('  ')) current.ways[section.way][section.what].push(line.slice(2));
  }
  return cases;
}

const KINDS = ['sd', 'sd21', 'sdxl'] as const;
const files = Object.fromEntries(KINDS.map((kind) => [kind, path.join(DIR, `lean-${kind}.txt`)]));
const read = (kind: string) => parse(readFileSync(files[kind]!, 'utf8'));

/** The events the action's log parser finds, with the output folder of each way made the same. */
function events(log: string[], way: 'cli' | 'lean'): ConverterEvent[] {
  const parser = new ConverterLogParser({ unetPart: 'unet' });
  const found = log.flatMap((line) => parser.push(`${line.replace(`-${way}/`, '-<way>/')}\n`));
  return [...found, ...parser.end()];
}

describe('lean_convert.py against the command line, both run with the real converter (lean-*.txt)', () => {
  it('has a fixture per pipeline shape: SD 1.5, SD 2.1-shaped and SDXL-shaped', () => {
    for (const kind of KINDS) expect(existsSync(files[kind]!), files[kind]).toBe(true);
  });

  it.each(KINDS)('lean-%s.txt: both ways exit 0 and the equality recorded for each package is what its hashes say', (kind) => {
    const cases = read(kind);
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      expect(c.ways.cli.exit, c.name).toBe(0);
      expect(c.ways.lean.exit, c.name).toBe(0);
      expect(c.packages.length, c.name).toBeGreaterThan(0);
      for (const p of c.packages) {
        const { cli, lean } = p.facts;
        expect(cli, `${c.name} ${p.name}`).toBeDefined();
        expect(lean, `${c.name} ${p.name}`).toBeDefined();
        for (const sha of [cli!.weightSha, cli!.specSha, lean!.weightSha, lean!.specSha]) expect(sha).toMatch(SHA);
        const same = cli!.weightSha === lean!.weightSha && cli!.specSha === lean!.specSha && cli!.weightBytes === lean!.weightBytes;
        expect(p.recordedSame, `${c.name} ${p.name}`).toBe(same);
        // What the fixture shows: the lean entry writes the command line's package.
        expect(same, `${c.name} ${p.name}`).toBe(true);
      }
      expect(c.recordedSamePackages, c.name).toBe(c.packages.every((p) => p.recordedSame));
      // The same files, of the same sizes, but model.mlmodel (protobuf map order differs per process).
      const sizes = (w: Way) => w.listing.filter((l) => !/model\.mlmodel \d+$/.test(l));
      expect(sizes(c.ways.lean), c.name).toEqual(sizes(c.ways.cli));
    }
  });

  it.each(KINDS)('lean-%s.txt: the log parser reads the same events from both, the pipeline load aside', (kind) => {
    for (const c of read(kind)) {
      const pipelineLines = (l: string) => /:(Initializing DiffusionPipeline with |Done\. Pipeline in effect: )/.test(l);
      expect(c.ways.cli.log.filter(pipelineLines), c.name).toHaveLength(2);
      expect(c.ways.lean.log.filter(pipelineLines), c.name).toEqual([]);
      expect(c.ways.lean.log.map((l) => l.replace('-lean/', '-<way>/')), c.name).toEqual(
        c.ways.cli.log.filter((l) => !pipelineLines(l)).map((l) => l.replace('-cli/', '-<way>/')),
      );
      const found = events(c.ways.lean.log, 'lean');
      expect(found, c.name).toEqual(events(c.ways.cli.log, 'cli'));
      expect(found.filter((e) => e.kind === 'saved').length, c.name).toBe(c.packages.length);
    }
  });

  it('covers every part the plan sends to the lean entry, on SD 1.5 and SDXL, and the control-unet', () => {
    const parts = (kind: string) => read(kind).map((c) => c.name.replace(`${kind}-`, ''));
    for (const kind of ['sd', 'sdxl']) expect(parts(kind)).toEqual(expect.arrayContaining([...LEAN_PARTS]));
    expect(parts('sd')).toContain('control-unet');
    expect(parts('sd21')).toEqual(expect.arrayContaining(['text_encoder', 'unet']));
    // SDXL's text encoder process converts both encoders, one after the other.
    const sdxlText = read('sdxl').find((c) => c.name === 'sdxl-text_encoder');
    expect(sdxlText?.packages.map((p) => p.name.replace(/.*_tiny_sdxl_/, ''))).toEqual(['text_encoder.mlpackage', 'text_encoder_2.mlpackage']);
  });
});
