import type { Rule } from '../../inputs/rule.js';

/** Checks across inputs when backend is core-ai (src/inputs/ runs them with the common rules). */
export const CORE_AI_RULES: readonly Rule[] = [];
