/**
 * What backend core-ai installs, as constraints/coreai/requirements.in names it: the shipped locks
 * hold exactly these and their dependencies; with a pins file of the user's that is constraints (no
 * hashes), pip resolves these within it. A unit test keeps the two in step.
 */
export const CORE_AI_REQUIREMENTS: readonly string[] = [
  'coreai-torch==0.4.3',
  'coreai-core==1.0.0b3',
  'coreai-opt[coreai]==0.4.0',
  'torch==2.13.0',
  'transformers==4.57.3',
  'diffusers==0.37.1',
  'peft',
  'accelerate',
  'safetensors',
  'huggingface-hub',
  'pillow',
  'psutil',
];
