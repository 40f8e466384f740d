import * as path from 'node:path';
import { lockPlatform } from '../../setup/locks.js';
import type { Backend } from '../backend.js';
import { CORE_AI_RULES } from './rules.js';
import { coreAiArguments, coreAiPlan, type CoreAiStep } from './plan.js';
import { convertCoreAi } from './convert.js';
import { verifyCoreAi } from './verify.js';
import { estimateCoreAi, runtimeTime } from './budget.js';
import { coreAiInputs } from './identity.js';

const isCoreAiStep = (s: { kind: string }): s is CoreAiStep => s.kind.startsWith('coreai-');

/** The Core AI locks (scripts/python-locks.mjs makes and checks them): Python 3.11, Linux x86_64 and macOS 26 arm64. */
export const CORE_AI_LOCK_FOLDER = 'constraints/coreai';
export const CORE_AI_PYTHON = '3.11';

/**
 * A Core AI bundle by Apple's coreai-torch, through the action's own export (python/coreai_export.py),
 * checked part by part and end to end with coreai-core's runtime (python/coreai_image.py). It runs on
 * Linux x86_64 as on macOS arm64: nothing in the export needs macOS.
 */
export const CORE_AI: Backend = {
  name: 'core-ai',
  label: 'Core AI bundle (coreai-torch)',
  ownInputs: ['compression', 'check-precision', 'image-check', 'image-prompt', 'image-seed', 'image-steps', 'image-guidance', 'image-min-psnr'],
  rules: CORE_AI_RULES,
  shippedLock: (_python, runner) => path.join(CORE_AI_LOCK_FOLDER, `${lockPlatform(runner)}-py${CORE_AI_PYTHON}.txt`),
  plan: (config) => {
    const steps = coreAiPlan(config);
    return { steps, commands: steps.map((s) => ['python', ...coreAiArguments(s, config)]), routes: steps.map((s) => (s.kind === 'coreai-image' ? 'python/coreai_image.py' : 'python/coreai_export.py')) };
  },
  convert: (input) => convertCoreAi(input, input.steps.filter(isCoreAiStep)),
  verify: verifyCoreAi,
  inputs: coreAiInputs,
  estimate: (steps, _config, sizes) => estimateCoreAi(steps.filter(isCoreAiStep), sizes),
  limits: (steps, config, sizes) => runtimeTime(config, steps.filter(isCoreAiStep), sizes),
};
