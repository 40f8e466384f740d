import type { Config } from '../../config.js';
import { CORE_AI_REQUIREMENTS } from './requirements.js';
import { CORE_AI_PARTS, imageSize } from './plan.js';

/** The pinned version of a package in CORE_AI_REQUIREMENTS (`name==version`), or `unpinned`. */
const pinned = (name: string) => CORE_AI_REQUIREMENTS.find((r) => r.split(/[[=]/)[0] === name)?.split('==')[1] ?? 'unpinned';

/**
 * Pure: every input and fact that decides what the Core AI backend makes, as the manifest records it
 * and skip-if-unchanged compares it (the backend's counterpart of converter/identity.ts's
 * converterInputs): the backend, the compression, the size, the parts, the single file's settings,
 * and the versions of coreai-torch, coreai-core and coreai-opt that export and check.
 */
export function coreAiInputs(config: Pick<Config, 'backend' | 'coreAi' | 'conversion' | 'singleFile'>): Record<string, string> {
  const { height, width } = imageSize(config as Config);
  const parts = CORE_AI_PARTS.filter((p) => config.conversion.parts.includes(p));
  const out: Record<string, string> = {
    backend: config.backend,
    'model-version': config.conversion.modelVersion,
    'model-revision': config.conversion.modelRevision,
    compression: config.coreAi?.compression ?? 'none',
    size: `${width}x${height}`,
    parts: parts.join(','),
    'coreai-torch': pinned('coreai-torch'),
    'coreai-core': pinned('coreai-core'),
    'coreai-opt': pinned('coreai-opt'),
  };
  if (config.singleFile) out.lora = config.singleFile.loras.map((l) => `${l.source.input}:${l.scale}`).join(',');
  return out;
}
