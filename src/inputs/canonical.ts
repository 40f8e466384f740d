import type { Config } from './config.js';

/**
 * Every input that decides what the converter makes, by its action.yml name, as canonical
 * strings: what manifest.json records and what a scheduled run compares to tell whether a
 * published conversion is still current. Paths, tokens and caching switches are left out.
 */
export function converterInputs(config: Config): Record<string, string> {
  const o = config.conversion;
  const text = (v: string | number | boolean | undefined) => (v === undefined ? '' : String(v));
  return {
    'model-version': o.modelVersion,
    'model-revision': o.modelRevision,
    'convert-text-encoder': text(o.parts.includes('text_encoder')),
    'convert-vae-decoder': text(o.parts.includes('vae_decoder')),
    'convert-vae-encoder': text(o.parts.includes('vae_encoder')),
    'convert-unet': text(o.parts.includes('unet')),
    'convert-safety-checker': text(o.parts.includes('safety_checker')),
    'convert-mmdit': text(o.parts.includes('mmdit')),
    'convert-controlnet': [...o.controlnets].sort().join(' '),
    'refiner-version': text(o.refinerVersion),
    'custom-vae-version': text(o.customVaeVersion),
    'compute-unit': o.computeUnit,
    'latent-h': text(o.latentH),
    'latent-w': text(o.latentW),
    'text-token-sequence-length': text(o.textTokenSequenceLength),
    'text-encoder-hidden-size': text(o.textEncoderHiddenSize),
    'attention-implementation': o.attention,
    'check-output-correctness': text(o.checkOutputCorrectness),
    'chunk-unet': text(o.chunkUnet),
    'quantize-nbits': text(o.quantizeNbits),
    'unet-support-controlnet': text(o.unetSupportControlnet),
    'unet-batch-one': text(o.unetBatchOne),
    'include-t5': text(o.includeT5),
    'bundle-resources-for-swift-cli': text(o.bundleResources),
    'text-encoder-vocabulary-url': text(o.urls.vocabulary),
    'text-encoder-merges-url': text(o.urls.merges),
    'text-encoder-t5-url': text(o.urls.t5),
    'text-encoder-t5-config-url': text(o.urls.t5Config),
    'text-encoder-t5-data-url': text(o.urls.t5Data),
    'min-deployment-target': o.minDeploymentTarget,
    'xl-version': text(o.xlVersion),
    'sd3-version': text(o.sd3Version),
    'extra-args': o.extraArgs.join('\n'),
    'ml-stable-diffusion': config.setup.requirement,
    'python-version': config.setup.pythonVersion,
    'prepare-fp16': config.prepareFp16.mode,
  };
}
