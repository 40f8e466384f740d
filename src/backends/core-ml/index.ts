import { CORE_ML_RULES } from '../../inputs/rules.js';
import { shippedLock } from '../../setup/locks.js';
import { coreMlSteps, makePlan, splitPlan } from '../../plan/plan.js';
import { conversionRoute, estimateProcesses } from '../../budget/estimate.js';
import { planCommands } from '../../convert/run.js';
import { routeOf } from '../../converter/commands.js';
import { converterInputs } from '../../converter/identity.js';
import { convertStage } from '../../convert/stage.js';
import { verifyStage } from '../../verify/stage.js';
import type { Backend } from '../backend.js';

/**
 * Core ML packages by Apple's torch2coreml (apple/ml-stable-diffusion): what the action knows of that
 * converter is in src/converter/ (its flags, logs, names, parity) and the stages built around it.
 */
export const CORE_ML: Backend = {
  name: 'core-ml',
  label: 'Core ML packages (torch2coreml)',
  ownInputs: [
    'preset',
    'convert-safety-checker',
    'convert-mmdit',
    'convert-controlnet',
    'refiner-version',
    'compute-unit',
    'text-token-sequence-length',
    'text-encoder-hidden-size',
    'attention-implementation',
    'check-compute-unit',
    'chunk-unet',
    'quantize-nbits',
    'unet-support-controlnet',
    'unet-batch-one',
    'include-t5',
    'bundle-resources-for-swift-cli',
    'text-encoder-vocabulary-url',
    'text-encoder-merges-url',
    'text-encoder-t5-url',
    'text-encoder-t5-config-url',
    'text-encoder-t5-data-url',
    'min-deployment-target',
    'xl-version',
    'sd3-version',
    'extra-args',
    'ml-stable-diffusion',
    'process-per-component',
    'lean-conversion',
    'split',
    'handoff',
    'verify-bundle',
    'prepare-fp16',
  ],
  rules: CORE_ML_RULES,
  shippedLock,
  plan: (config) => {
    const steps = splitPlan(makePlan(config.conversion, config.processPerComponent), config.split.mode);
    return { steps, commands: planCommands(config, steps), routes: steps.map(routeOf) };
  },
  convert: convertStage,
  verify: verifyStage,
  inputs: converterInputs,
  estimate: (steps, config, sizes) => estimateProcesses(coreMlSteps(steps), config.conversion, sizes, conversionRoute(config)),
};
