/**
 * Pure: what the Hub's answers mean for a commit, and when to ask again. 429 waits what
 * Retry-After says; 5xx and dropped connections are retried with backoff. Nothing is committed
 * before the final commit call, so a retried upload never leaves half a commit behind.
 */

export interface RetryPolicy {
  attempts: number;
  /** First backoff, doubled each time. */
  baseMs: number;
  /** The longest wait a Retry-After may ask for before we give up instead. */
  maxWaitMs: number;
}

export const HUB_RETRY: RetryPolicy = { attempts: 5, baseMs: 1000, maxWaitMs: 120_000 };

/** Retry-After as seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Pure: how long to wait before try `attempt + 1` (attempt counts from 1), or undefined to stop.
 * `status` undefined: the connection failed without an answer.
 */
export function retryDelay(status: number | undefined, retryAfter: number | undefined, attempt: number, policy: RetryPolicy = HUB_RETRY): number | undefined {
  if (attempt >= policy.attempts) return undefined;
  const retriable = status === undefined || status === 429 || status >= 500;
  if (!retriable) return undefined;
  const backoff = policy.baseMs * 2 ** (attempt - 1);
  if (status === 429 && retryAfter !== undefined) return retryAfter <= policy.maxWaitMs ? retryAfter : undefined;
  return backoff;
}

/** What failed, for the message: the call of the write API that answered. */
export type HubOperation = 'read the repository' | 'create the repository' | 'upload' | 'commit';

/**
 * Pure: the error text for a Hub answer that ended the publish, saying what to do. 401 is a token
 * the Hub does not know; 403 one without write access to the repository (a read token, or a
 * fine-grained token without the repository's "write" permission).
 */
export function diagnoseHubFailure(input: { status: number | undefined; operation: HubOperation; repo: string; revision: string; message: string; attempts?: number }): string {
  const { status, repo } = input;
  const what = `Publishing to the Hub repository ${repo} failed to ${input.operation}`;
  const tried = input.attempts && input.attempts > 1 ? ` after ${input.attempts} tries` : '';
  const said = input.message ? ` (${input.message})` : '';
  if (status === 401) {
    return `${what}: the Hub answered 401, it does not accept the token of \`hub-token\`${said}. Create a token at https://huggingface.co/settings/tokens and store it as a secret; nothing was committed.`;
  }
  if (status === 403) {
    return (
      `${what}: the Hub answered 403, the token of \`hub-token\` has no write access to ${repo}${said}. ` +
      `A classic token needs the "write" role; a fine-grained token needs "Write access to contents/settings of all repos under ${repo.split('/')[0]}" (or ${repo} in its repository permissions)` +
      `${input.operation === 'create the repository' ? ', and creating a repository needs the "Create repos" permission of that user or organization' : ''}. Nothing was committed.`
    );
  }
  if (status === 404) return `${what}: the Hub answered 404${said}. Check hub-repo, and that hub-revision ${JSON.stringify(input.revision)} is a branch of it; nothing was committed.`;
  if (status === 409 || status === 412) return `${what}: the Hub answered ${status}, the branch ${JSON.stringify(input.revision)} moved while this step committed${said}. Run the job again; nothing was committed.`;
  if (status === 429) return `${what}: the Hub kept answering 429 (rate limited)${tried}${said}. Run the job again later; nothing was committed.`;
  if (status !== undefined && status >= 500) return `${what}: the Hub answered ${status}${tried}${said}. The Hub (or its storage) is failing; run the job again later. Nothing was committed, and files already uploaded are reused then.`;
  if (status === undefined) return `${what}: no answer${tried}${said}. Check HF_ENDPOINT and the runner's network; nothing was committed.`;
  return `${what}: the Hub answered ${status}${said}. Nothing was committed.`;
}
