// Reading a user's inputs for `npm run local` (scripts/local.mjs), pure: a .env-style file of the
// action's inputs, as a workflow's `with:` would give them.
//   model-version=acme/my-sd
//   preset=ios
//   psnr-thresholds="unet=40\ntext_encoder=38"   (double quotes take \n, \t, \" and \\)
//   # comments and blank lines are skipped; INPUT_MODEL-VERSION=... is read as model-version

/** @type {Record<string, string>} */
const ESCAPES = { n: '\n', t: '\t', '"': '"', '\\': '\\' };

/**
 * @param {string} text
 * @param {ReadonlySet<string>} known the inputs the entry declares (action.yml)
 * @returns {{ inputs: Record<string, string>, errors: string[] }}
 */
export function parseInputsFile(text, known) {
  /** @type {Record<string, string>} */
  const inputs = {};
  /** @type {string[]} */
  const errors = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `line ${index + 1}`;
    const eq = line.indexOf('=');
    if (eq <= 0) return void errors.push(`${at}: not name=value`);
    let name = line.slice(0, eq).trim().replace(/^export\s+/, '');
    if (/^INPUT_/i.test(name)) name = name.slice('INPUT_'.length).toLowerCase().replaceAll('_', ' ');
    if (!known.has(name)) return void errors.push(`${at}: ${JSON.stringify(name)} is not an input of this entry`);
    let value = line.slice(eq + 1).trim();
    if (value.startsWith('"')) {
      if (!value.endsWith('"') || value.length < 2) return void errors.push(`${at}: the value of ${name} opens a double quote it does not close`);
      value = value.slice(1, -1).replace(/\\(.)/g, (/** @type {string} */ _, /** @type {string} */ c) => ESCAPES[c] ?? `\\${c}`);
    } else if (value.startsWith("'")) {
      if (!value.endsWith("'") || value.length < 2) return void errors.push(`${at}: the value of ${name} opens a single quote it does not close`);
      value = value.slice(1, -1);
    }
    if (name in inputs) return void errors.push(`${at}: ${name} is given twice`);
    inputs[name] = value;
  });
  return { inputs, errors };
}

/** `::debug::` lines (core.debug) are the runner's to hide unless step debug logging is on. @param {boolean} debug */
export function logFilter(debug) {
  return (/** @type {string} */ line) => debug || !line.startsWith('::debug::');
}
