import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
import { HubClient } from './hub/client.js';
import { resolveModels } from './hub/models.js';
import { hubEndpoint } from './hub/files.js';
import { buildMatrix, type PlannedEntry } from './matrix/build.js';
import { parsePlanInputs } from './matrix/inputs.js';
import { parseModelList } from './matrix/list.js';
import { decideRefresh, describeVerdict, ReleaseReader } from './refresh/stage.js';
import { setPlanOutput } from './outputs.js';
import { writeStepSummary } from './summary/write.js';
import { failRun } from './halt.js';
import { errorMessage } from './format/error.js';
import { maskSecret } from './secrets.js';
import { realPathOf } from './inputs/read.js';
import { info } from './log.js';

// plan/action.yml: the list of models and variants as a matrix for the main action. Thin: the
// decisions are src/matrix/ (the list and the matrix) and src/refresh/ (what is current).
const isDirectory = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
/** dist/plan/index.js lives two levels below the action's root. */
const actionRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One resolve per model and revision, however many variants share it. */
class MemoHubClient extends HubClient {
  private readonly seen = new Map<string, ReturnType<HubClient['resolve']>>();
  override resolve(id: string, revision: string): ReturnType<HubClient['resolve']> {
    const key = `${id}@${revision}`;
    let found = this.seen.get(key);
    if (!found) {
      found = super.resolve(id, revision);
      this.seen.set(key, found);
    }
    return found;
  }
}

function fail(errors: string[]): void {
  errors.forEach((e) => core.error(e, { title: 'Invalid input' }));
  core.setFailed(`${errors.length} problem(s) in the plan's inputs:\n- ${errors.join('\n- ')}`);
}

async function run(): Promise<void> {
  // The tokens as given are masked (whole and in pieces) before anything is logged.
  [core.getInput('hf-token'), core.getInput('github-token'), process.env.HF_TOKEN].forEach(maskSecret);
  const parsed = parsePlanInputs((name) => core.getInput(name), { env: process.env, isFile, readFile: (p) => readFileSync(p, 'utf8'), realPath: realPathOf });
  parsed.secrets.forEach(maskSecret);
  if (!parsed.config) return fail(parsed.errors);
  const plan = parsed.config;

  const list = parseModelList(plan.listText, plan.listSource);
  if (!list.models) return fail(list.errors);
  const built = buildMatrix(list.models, { presets: plan.presets, releaseTag: plan.releaseTag, split: plan.split }, { env: process.env, actionRoot, isDirectory, isFile });
  built.warnings.forEach((w) => core.warning(w));
  if (!built.entries) return fail(built.errors);

  let kept: PlannedEntry[] = built.entries;
  const skipped: Array<{ entry: PlannedEntry; line: string }> = [];
  const rows: string[] = [];
  if (plan.skipIfUnchanged) {
    kept = [];
    const hub = new MemoHubClient(hubEndpoint(process.env), plan.hfToken);
    let reader: ReleaseReader | undefined;
    try {
      reader = await ReleaseReader.open(plan.githubToken, built.entries[0]!.config.publish.github);
    } catch (error) {
      core.warning(`skip-if-unchanged cannot read the releases (${errorMessage(error)}): every entry stays in the matrix.`);
    }
    for (const entry of built.entries) {
      if (!reader || entry.releaseTag === undefined) {
        kept.push(entry);
        continue;
      }
      const models = await resolveModels(entry.config, hub);
      const { verdict } = await decideRefresh(entry.config, models, entry.releaseTag, reader);
      const lines = describeVerdict(verdict);
      info(`${entry.matrix.name}: ${lines.join('\n  ')}`);
      rows.push(`| ${entry.matrix.name} | ${entry.releaseTag} | ${verdict.current ? 'unchanged: skipped' : `converts: ${verdict.reason}`} |`);
      if (verdict.current) skipped.push({ entry, line: lines[0] ?? '' });
      else kept.push(entry);
    }
  }

  const matrix = { include: kept.map((e) => e.matrix) };
  setPlanOutput('matrix', matrix);
  setPlanOutput('count', kept.length);
  setPlanOutput('skipped', skipped.map((s) => s.entry.matrix['artifact-name'] ?? ''));

  const keys = [...new Set(kept.flatMap((e) => Object.keys(e.matrix)))].filter((k) => k !== 'name' && k !== 'variant');
  info(`Matrix: ${kept.length} job(s)${skipped.length > 0 ? `, ${skipped.length} skipped as unchanged` : ''}. ` + `Pass these keys to the main action in the job's \`with:\` (\${{ matrix.<key> }}): ${keys.join(', ')}.`);
  const markdown = [
    `## Plan: ${kept.length} job(s)${skipped.length > 0 ? `, ${skipped.length} unchanged` : ''}`,
    '',
    ...(rows.length > 0 ? ['| entry | release | verdict |', '| --- | --- | --- |', ...rows, ''] : []),
    '| job | artifact | model | preset |',
    '| --- | --- | --- | --- |',
    ...kept.map((e) => `| ${e.matrix.name} | ${e.matrix['artifact-name']} | ${e.matrix['model-version']} | ${e.matrix.preset ?? ''} |`),
    '',
    `Keys to pass to the main action: ${keys.map((k) => `\`${k}\``).join(', ')}.`,
    '',
  ].join('\n');
  await writeStepSummary(markdown, Boolean(process.env.GITHUB_STEP_SUMMARY));
}

run().catch(failRun);
