import { VARIANT_PLACEHOLDER } from '../inputs/publish.js';

/** Pure: where a variant's files sit in a Hub repository (hub-path-in-repo), for the publish and skip-if-unchanged. */

/** The folder for a variant: hub-path-in-repo with {variant} filled in; '' is the repository's top. */
export function variantFolder(pathInRepo: string, variant: string): string {
  if (pathInRepo === '.' || pathInRepo === '/') return '';
  return pathInRepo.replaceAll(VARIANT_PLACEHOLDER, variant).replace(/^\/+|\/+$/g, '');
}

export const inFolder = (folder: string, name: string): string => (folder === '' ? name : `${folder}/${name}`);

/** The model card, at the top of the repository for every layout. */
export const CARD_PATH = 'README.md';

