/**
 * A store view bound to one organisation: whatever `org` a handler passes,
 * reads, deletes and writes go to the caller's. The edge hands handlers this
 * view (src/edge/server.ts), so an organisation cannot reach another's rows
 * even through a handler that forgot to thread `org` through (the Responses
 * handlers still name DEFAULT_ORG in their calls: the view overrides it).
 *
 * Cost: one small object per request on the routes that use it, none for the
 * default organisation (the store itself is returned), and on put one copy of
 * the record's fields (a few pointers).
 */
import { DEFAULT_ORG, type ResponseStore } from './types.ts';

export function scopedResponses(store: ResponseStore, org: string): ResponseStore {
  if (org === DEFAULT_ORG) return store;
  return {
    put: (r) => store.put(r.org === org ? r : { ...r, org }),
    get: (_org, id) => store.get(org, id),
    delete: (_org, id) => store.delete(org, id),
    // Purging is the store's housekeeping across every organisation, not a caller's operation.
    purge: () => Promise.reject(new Error('purge is not available on an organisation-scoped view')),
  };
}
