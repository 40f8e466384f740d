/**
 * What the converter's SD3 path does, from torch2coreml.py at e12202c and DiffusionKit 0.4.0
 * (the version its setup.py pins): with --sd3-version, get_pipeline loads the SDXL base for the
 * other parts, and DiffusionKit's tests/torch2coreml converts the VAE decoder and the MMDiT.
 */

export const DIFFUSIONKIT_VERSION = '0.4.0';

/** get_pipeline's pipeline under --sd3-version: text encoders (and any unet, VAE encoder) come from here. */
export const SD3_SDXL_BASE = 'stabilityai/stable-diffusion-xl-base-1.0';

/**
 * The one file DiffusionKit downloads, `hf_hub_download(model_version, "sd3_medium.safetensors")`,
 * and loads into its SD3_2b MMDiT config: only SD3 Medium checkpoints in Stability's single-file
 * layout fit (not the -diffusers repo, not SD3.5).
 */
export const SD3_CHECKPOINT = 'sd3_medium.safetensors';

/**
 * Pure: the files of a Hub repository that DiffusionKit downloads itself, when that is all the
 * run needs of it (the SD3 repository under sd3-version); undefined for the others.
 */
export function filesDiffusionKitLoads(conversion: { sd3Version: boolean; modelVersion: string }, id: string): string[] | undefined {
  return conversion.sd3Version && id === conversion.modelVersion ? [SD3_CHECKPOINT] : undefined;
}

/** Hub repositories known to hold SD3_CHECKPOINT (Stability's, and the copy DiffusionKit's own MLX code loads). */
export const SD3_MODELS = ['stabilityai/stable-diffusion-3-medium', 'argmaxinc/mlx-stable-diffusion-3-medium'] as const;

/**
 * argmaxtools' parity check (test_torch2coreml_correctness_and_speedup, argmaxtools 0.1.23 as
 * locked): `torch2coreml PSNR={psnr:.3g}`, then assertGreater(psnr, 35); it runs whatever
 * --check-output-correctness says, for the MMDiT and for SD3's VAE decoder.
 */
export const DIFFUSIONKIT_MIN_PSNR = 35;
export const DIFFUSIONKIT_CHECK = 'DiffusionKit PyTorch to Core ML';
