import type { PublishedSingleFile } from '../package/manifest.js';
import type { SingleFileCheck } from '../single-file/check.js';
import { describeSource } from '../single-file/source.js';

/**
 * Pure: a single-file model-version for skip-if-unchanged. Its bytes are what a model's commit is
 * for a Hub model: the checkpoint's sha256, each LoRA's sha256 with its scale, and the config
 * repository's commit, compared with the published manifest's `singleFile` record.
 */

export interface SingleFileIdentity {
  checkpoint: { name: string; sha256: string };
  loras: Array<{ name: string; sha256: string; scale: number }>;
  config: { repo: string; commit: string };
}

/** What the single-file stage found, as compared; a string says why it cannot be compared. */
export function singleFileIdentity(check: SingleFileCheck | undefined): SingleFileIdentity | string {
  if (!check) return 'the single file was not read, so its sha256 is not known';
  const unknown = [check.checkpoint, ...check.loras].find((f) => f.sha256 === undefined);
  // A small Hub file (no LFS) is listed without its sha256: only downloading it would tell.
  if (unknown) return `${describeSource(unknown.source)} has no sha256 in the Hub's listing (not an LFS file), so its bytes cannot be compared`;
  if (check.config.where === 'local') return 'model-config is a local folder, which has no commit to compare';
  return {
    checkpoint: { name: describeSource(check.checkpoint.source), sha256: check.checkpoint.sha256 ?? '' },
    loras: check.loras.map((l) => ({ name: describeSource(l.source), sha256: l.sha256 ?? '', scale: l.scale })),
    config: { repo: check.config.id, commit: check.config.commit },
  };
}

const short = (sha: string) => (/^[0-9a-f]{40,64}$/.test(sha) ? sha.slice(0, 12) : sha || '(none)');

/** Every difference between the files this run would convert and the manifest's record; [] when the same. */
export function singleFileDifferences(wanted: SingleFileIdentity, published: PublishedSingleFile | null): string[] {
  if (!published) return ['the manifest records no single file (`singleFile`)'];
  const out: string[] = [];
  const { checkpoint } = wanted;
  if (published.checkpoint.sha256 !== checkpoint.sha256) out.push(`checkpoint ${checkpoint.name}: sha256 ${short(published.checkpoint.sha256)} published, ${short(checkpoint.sha256)} now`);
  // The same bytes pair first (a scale may differ); the rest pair in order (a file replaced), then are extra.
  const unpaired = [...published.loras];
  const unmatched: SingleFileIdentity['loras'] = [];
  const pairs: Array<[SingleFileIdentity['loras'][number], PublishedSingleFile['loras'][number]]> = [];
  for (const lora of wanted.loras) {
    const i = unpaired.findIndex((p) => p.sha256 === lora.sha256);
    const same = i < 0 ? undefined : unpaired.splice(i, 1)[0];
    if (same) pairs.push([lora, same]);
    else unmatched.push(lora);
  }
  for (const lora of unmatched) {
    const p = unpaired.shift();
    if (p) pairs.push([lora, p]);
    else out.push(`LoRA ${lora.name} (sha256 ${short(lora.sha256)}) is not in the manifest`);
  }
  for (const [lora, p] of pairs) {
    if (p.sha256 !== lora.sha256) out.push(`LoRA ${lora.name}: sha256 ${short(p.sha256)} published, ${short(lora.sha256)} now`);
    if (p.scale !== lora.scale) out.push(`LoRA ${lora.name}: scale ${p.scale} published, ${lora.scale} now`);
  }
  for (const p of unpaired) out.push(`the manifest lists LoRA ${p.file} (sha256 ${short(p.sha256)}), which this run does not merge`);
  const config = wanted.config;
  if ('folder' in published.config) out.push(`config: the folder ${published.config.folder} published, ${config.repo}@${short(config.commit)} now`);
  else if (published.config.repo !== config.repo) out.push(`config: ${published.config.repo} published, ${config.repo} now`);
  else if (published.config.commit !== config.commit) out.push(`config ${config.repo}: commit ${short(published.config.commit)} published, ${short(config.commit)} now`);
  return out;
}

/** The verdict's "matches" part for a single file. */
export function describeSingleFile(wanted: SingleFileIdentity): string {
  const loras = wanted.loras.map((l) => `, LoRA ${l.name} sha256 ${short(l.sha256)} x${l.scale}`).join('');
  return `${wanted.checkpoint.name} sha256 ${short(wanted.checkpoint.sha256)} (single file)${loras}, config ${wanted.config.repo}@${short(wanted.config.commit)}`;
}
