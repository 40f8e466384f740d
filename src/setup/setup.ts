import * as core from '@actions/core';
import type { Config } from '../inputs/config.js';
import { childEnvironment, runProcess } from '../process.js';
import { pipInstallArgs } from './commands.js';
import { PROVIDERS, SetupError } from './providers.js';

export interface SetupResult {
  python: string;
  provider: string;
  durationMs: number;
}

/** Gets an interpreter from the first provider that can give one, then pip installs the converter. */
export async function setupConverter(config: Config): Promise<SetupResult> {
  const started = Date.now();
  const ctx = { config };
  return core.group('Set up Python and the converter', async () => {
    for (const provider of PROVIDERS) {
      if (!(await provider.provides(ctx))) continue;
      core.info(`Python from ${provider.label}.`);
      const python = await provider.interpreter(ctx);
      const argv = pipInstallArgs(python, config.setup.requirement, config.setup.constraintsFile);
      const result = await runProcess(argv, { cwd: config.runner.workspace, env: childEnvironment({ PYTHONUNBUFFERED: '1' }) });
      if (result.exitCode !== 0) {
        throw new SetupError(
          `pip could not install the converter (${config.setup.requirement}) with the constraints in ${config.setup.constraintsFile}. ` +
            `Last output:\n${result.tail.slice(-15).join('\n')}`,
        );
      }
      return { python, provider: provider.label, durationMs: Date.now() - started };
    }
    throw new SetupError('No provider could give a Python interpreter.');
  });
}
