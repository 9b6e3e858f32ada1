/**
 * The read side of the Responses API: GET and DELETE /v1/responses/{id} and
 * GET /v1/responses/{id}/input_items, straight from the store. A retrieved
 * response is the JSON text stored at creation (exactly what the client got
 * then), sent without parsing it; input_items parses the stored item list to
 * page through it.
 */
import { ApiError, invalid } from '../errors.ts';
import { DEFAULT_ORG, StoreError, type ResponseStore } from '../store/types.ts';
import { describe } from './validate.ts';

const MAX_LIMIT = 100;
const DEFAULT_LIMIT = 20;

/** A store failure -> 503 store_unavailable; the StoreError's text (it names file paths) stays out of the reply. */
export function storeFailure(e: unknown): never {
  if (e instanceof StoreError) throw new ApiError('store_unavailable');
  throw e;
}

export function responseNotFound(id: string, field?: string): ApiError {
  return new ApiError('response_not_found', `No response with id ${JSON.stringify(id.slice(0, 256))} (never stored, stored with "store": false, deleted, or expired).`, field);
}

/**
 * `stream=true` asks OpenAI to replay a response's events (what the SDK's
 * responses.stream({response_id}) does): no events are kept here, so that is
 * a 400 rather than a JSON body the SDK would try to read as a stream.
 * Other query keys (include, starting_after with stream off) are ignored.
 */
export async function handleGetResponse(id: string, store: ResponseStore, query = ''): Promise<string> {
  if (query !== '' && new URLSearchParams(query).get('stream') === 'true') throw invalid('stream', 'is not supported: stored responses are kept as objects, not as event streams (retrieve without "stream")');
  const s = await store.get(DEFAULT_ORG, id).catch(storeFailure);
  if (s === undefined) throw responseNotFound(id);
  return s.response;
}

export async function handleDeleteResponse(id: string, store: ResponseStore): Promise<string> {
  const gone = await store.delete(DEFAULT_ORG, id).catch(storeFailure);
  if (!gone) throw responseNotFound(id);
  return JSON.stringify({ id, object: 'response', deleted: true });
}

export interface ListQuery { limit: number; order: 'asc' | 'desc'; after: string | null }

/** `limit` (1-100, default 20), `order` (asc | desc, default desc), `after` (an item id); other keys (include) are ignored. */
export function parseListQuery(query: string): ListQuery {
  const q = new URLSearchParams(query);
  let limit = DEFAULT_LIMIT;
  const l = q.get('limit');
  if (l !== null) {
    limit = /^[0-9]{1,4}$/.test(l) ? Number(l) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) throw invalid('limit', `must be an integer from 1 to ${MAX_LIMIT}, got ${describe(l)}`);
  }
  const o = q.get('order') ?? 'desc';
  if (o !== 'asc' && o !== 'desc') throw invalid('order', `must be "asc" or "desc", got ${describe(o)}`);
  const after = q.get('after');
  if (after === '') throw invalid('after', 'must be an item id, not empty');
  return { limit, order: o, after };
}

/** OpenAI's list object over the response's own input items (not its chain's). */
export async function handleListInputItems(id: string, query: string, store: ResponseStore): Promise<string> {
  const p = parseListQuery(query);
  const s = await store.get(DEFAULT_ORG, id).catch(storeFailure);
  if (s === undefined) throw responseNotFound(id);
  let items: { id: string }[];
  try { items = JSON.parse(s.inputItems) as { id: string }[]; } catch (e) { return storeFailure(new StoreError('stored input items are not JSON', undefined, { cause: e })); }
  if (!Array.isArray(items)) return storeFailure(new StoreError('stored input items are not an array'));
  const ordered = p.order === 'asc' ? items : items.slice().reverse();
  let start = 0;
  if (p.after !== null) {
    const at = ordered.findIndex((it) => it.id === p.after);
    if (at < 0) throw invalid('after', `names no input item of response ${JSON.stringify(id.slice(0, 256))}: ${describe(p.after)}`);
    start = at + 1;
  }
  const data = ordered.slice(start, start + p.limit);
  return JSON.stringify({
    object: 'list', data, first_id: data.length > 0 ? data[0].id : null, last_id: data.length > 0 ? data[data.length - 1].id : null,
    has_more: start + p.limit < ordered.length,
  });
}
