// The local stand-ins for the services the action talks to, for the e2e tests, bench/ and demos:
// Azurite + the results service (cache v2 and artifacts, Twirp), GitHub's releases REST subset,
// and the Hugging Face Hub. `node test/services/index.mjs` starts them all, prints the
// environment a child action process needs, and stops them on SIGINT/SIGTERM.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { startAzurite } from './azurite.mjs';
import { startHubServer } from './hub-server.mjs';
import { startReleasesServer } from './releases-server.mjs';
import { startResultsServer } from './results-server.mjs';

export { AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME, freePort, processAlive, startAzurite } from './azurite.mjs';
export { ARTIFACT_SERVICE, CACHE_SERVICE, backendIdsOf, makeRuntimeToken, startResultsServer } from './results-server.mjs';
export { githubAssetName, startReleasesServer } from './releases-server.mjs';
export { CLIP_MODEL_ID, clipTokenizerFiles, fakeSha, startHubServer } from './hub-server.mjs';

/**
 * @typedef {import('./azurite.mjs').Azurite} Azurite
 * @typedef {import('./results-server.mjs').ResultsServer} ResultsServer
 * @typedef {import('./releases-server.mjs').ReleasesServer} ReleasesServer
 * @typedef {import('./hub-server.mjs').HubServer} HubServer
 * @typedef {import('./hub-server.mjs').ModelSpec} ModelSpec
 * @typedef {{
 *   azurite: Azurite, results: ResultsServer, releases: ReleasesServer, hub: HubServer,
 *   env: Record<string, string>, githubToken: string, hfToken: string, stop: () => Promise<void>
 * }} Services
 */

/**
 * Starts every service. `env` is what a child action process needs on top of its own
 * (ACTIONS_*, GITHUB_SERVER_URL/API_URL/REPOSITORY/RUN_ID/RUN_ATTEMPT, HF_ENDPOINT); pass
 * `githubToken` as the action's token input and `hfToken` for gated models.
 * @param {{
 *   models?: ModelSpec[], githubToken?: string, hfToken?: string, repository?: string,
 *   azuriteLog?: boolean, cacheLimitBytes?: number
 * }} [options]
 * @returns {Promise<Services>}
 */
export async function startAll(options = {}) {
  /** @type {Array<() => Promise<void>>} */
  const stops = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const azurite = await startAzurite({ log: options.azuriteLog });
    stops.push(azurite.stop);
    const results = await startResultsServer({ azurite, repository: options.repository, cacheLimitBytes: options.cacheLimitBytes });
    stops.push(results.stop);
    const releases = await startReleasesServer({ token: options.githubToken });
    stops.push(releases.stop);
    const hub = await startHubServer({ models: options.models, token: options.hfToken });
    stops.push(hub.stop);
    return {
      azurite, results, releases, hub,
      env: { ...results.env, ...releases.env, ...hub.env },
      githubToken: releases.token, hfToken: hub.token,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** @param {Record<string, string>} env */
function shellQuote(env) {
  return Object.entries(env).map(([k, v]) => `${k}='${v.replace(/'/g, `'\\''`)}'`).join('\n');
}

async function main() {
  const args = process.argv.slice(2);
  const envFileAt = args.indexOf('--write-env');
  const envFile = envFileAt >= 0 ? args[envFileAt + 1] : undefined;
  if (args.includes('--help')) {
    console.log('usage: node test/services/index.mjs [--write-env FILE] [--json]\n'
      + 'Starts Azurite, the results (cache/artifact) service, the releases API and the Hub stand-in;\n'
      + 'prints (and writes to FILE) the environment a child action needs; stops on SIGINT/SIGTERM.');
    return;
  }
  const services = await startAll();
  const env = { ...services.env, LOCAL_GITHUB_TOKEN: services.githubToken, HF_TOKEN: services.hfToken };
  if (envFile) writeFileSync(envFile, `${shellQuote(env)}\n`);
  if (args.includes('--json')) console.log(JSON.stringify(env));
  else {
    console.log(`# azurite ${services.azurite.url} (pid ${services.azurite.pid})`);
    console.log(`# results ${services.results.url}  releases ${services.releases.apiUrl}  hub ${services.hub.url}`);
    console.log('# LOCAL_GITHUB_TOKEN: the token the releases API accepts (hand it to the action as its `github-token`');
    console.log('# input, env INPUT_GITHUB-TOKEN); HF_TOKEN: the Hub stand-in\'s, needed for gated models');
    console.log(shellQuote(env));
    console.log('# ready: Ctrl-C or SIGTERM stops everything');
  }
  let stopping = false;
  const shutdown = async (/** @type {string} */ signal) => {
    if (stopping) return;
    stopping = true;
    await services.stop();
    console.log(`# stopped (${signal})`);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
