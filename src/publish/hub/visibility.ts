import type { SourceModel } from './card.js';

/**
 * Pure: why this variant may not go to the repository, or undefined. A private source model is
 * never published to a public repository (one that is public, or that this step would create
 * public) unless the workflow said so with `hub-private: false`.
 */
export function visibilityProblem(input: { source: Pick<SourceModel, 'id' | 'access'>; repo: string; exists: boolean; isPrivate?: boolean; hubPrivate: boolean | undefined }): string | undefined {
  if (input.source.access !== 'private' || input.hubPrivate === false) return undefined;
  const wouldBePublic = input.exists ? input.isPrivate !== true : input.hubPrivate !== true;
  if (!wouldBePublic) return undefined;
  const where = input.exists ? `${input.repo} is a public repository` : `${input.repo} does not exist yet and would be created public`;
  return `Input \`hub-private\` is ${input.hubPrivate === undefined ? 'empty' : String(input.hubPrivate)}, but the source model ${input.source.id} is private and ${where}: publishing would make a private model's weights public. Set \`hub-private: true\` (a new repository is then private; make an existing one private on the Hub first), or \`hub-private: false\` to publish it publicly on purpose.`;
}
