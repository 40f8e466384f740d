import type { BackendName, Config } from '../config.js';
import type { Backend } from './backend.js';
import { CORE_AI } from './core-ai/index.js';
import { CORE_ML } from './core-ml/index.js';

/** Every backend, by the name the `backend` input takes; the first is the default. */
export const BACKENDS: Readonly<Record<BackendName, Backend>> = { 'core-ml': CORE_ML, 'core-ai': CORE_AI };
export const BACKEND_NAMES = Object.keys(BACKENDS) as BackendName[];

export function backendOf(config: Pick<Config, 'backend'>): Backend {
  return BACKENDS[config.backend];
}
