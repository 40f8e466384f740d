// INPUT_NAMES and ACTION_OUTPUTS are the code's single list of the action's interface: they must be
// action.yml's, in action.yml's order.
import { describe, expect, it } from 'vitest';
import { INPUT_NAMES } from '../../src/inputs/names.js';
import { ACTION_OUTPUTS } from '../../src/outputs.js';
import { ACTION } from './fixtures.js';

describe('input and output names', () => {
  it('INPUT_NAMES equals the inputs of action.yml, in order', () => {
    expect([...INPUT_NAMES]).toEqual(Object.keys(ACTION.inputs));
  });

  it('declares the interface the issue fixes', () => {
    const fixed = [
      'model-version', 'convert-text-encoder', 'convert-vae-decoder', 'convert-unet', 'convert-vae-encoder',
      'convert-safety-checker', 'convert-mmdit', 'convert-controlnet', 'refiner-version', 'custom-vae-version',
      'compute-unit', 'latent-h', 'latent-w', 'text-token-sequence-length', 'text-encoder-hidden-size',
      'attention-implementation', 'check-output-correctness', 'chunk-unet', 'quantize-nbits', 'unet-support-controlnet',
      'unet-batch-one', 'include-t5', 'bundle-resources-for-swift-cli', 'text-encoder-vocabulary-url',
      'text-encoder-merges-url', 'text-encoder-t5-url', 'text-encoder-t5-config-url', 'text-encoder-t5-data-url',
      'min-deployment-target', 'xl-version', 'sd3-version', 'output-dir', 'extra-args', 'hf-token', 'python-version',
      'python', 'ml-stable-diffusion', 'pip-constraints', 'min-psnr', 'psnr-thresholds', 'process-per-component', 'dry-run',
    ];
    // Issue 2 fixes these; later issues add inputs (issue 6: verify-bundle, prepare-fp16; issue 3: caching; issue 5: preset, skip-if-unchanged).
    const later = ['verify-bundle', 'prepare-fp16', 'model-revision', 'cache', 'cache-outputs', 'preset', 'skip-if-unchanged'];
    // Issue 4: packaging and publishing.
    const publishing = [
      'package', 'asset-prefix', 'compression-level', 'max-asset-size', 'upload-artifact', 'artifact-name', 'retention-days',
      'release-tag', 'release-name', 'release-notes', 'draft', 'prerelease', 'github-token', 'overwrite-assets',
    ];
    expect([...INPUT_NAMES].sort()).toEqual([...fixed, ...later, ...publishing].sort());
    const fixedOutputs = ['mlpackages', 'output-dir', 'plan', 'psnr', 'psnr-passed', 'resources-dir'];
    const laterOutputs = ['model-revision-sha', 'cache-hit-pip', 'cache-hit-hf', 'cache-hit-env', 'cache-hit-outputs', 'skipped'];
    const publishingOutputs = ['package-dir', 'packages', 'artifact-id', 'artifact-url', 'release-url', 'release-id', 'assets'];
    expect(Object.keys(ACTION_OUTPUTS).sort()).toEqual([...fixedOutputs, ...laterOutputs, ...publishingOutputs].sort());
    expect(new Set(INPUT_NAMES).size).toBe(INPUT_NAMES.length);
  });

  it('marks model-version as the only required input', () => {
    const required = Object.entries(ACTION.inputs).filter(([, spec]) => spec?.required === true).map(([name]) => name);
    expect(required).toEqual(['model-version']);
  });
});
