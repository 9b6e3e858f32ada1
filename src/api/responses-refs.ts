/**
 * `item_reference` input items -> the stored output items they name. The
 * Vercel AI SDK (store on, its default) sends an earlier assistant turn as
 * `{type: "item_reference", id: "msg_…"}` instead of its text; OpenAI looks
 * the item up server-side, so this does too. Output item ids embed their
 * response's id (responses-translate.ts outputItemId), so each distinct
 * response referenced costs one store read, and no item index is kept.
 *
 * Only output items can be referenced (input item ids are random, and no
 * client references its own input). A reference to an item that is not
 * stored (store: false, deleted, expired, or an id this server never made)
 * is a 400 naming `input[i].id`.
 */
import { invalid } from '../errors.ts';
import { DEFAULT_ORG, StoreError, type ResponseStore } from '../store/types.ts';
import { storeFailure } from './responses-read.ts';
import { responseIdOfItem, type OutputItem } from './responses-translate.ts';
import type { InputItem, ItemReference } from './responses-validate.ts';

function asInput(o: OutputItem): InputItem {
  if (o.type === 'function_call') return { type: 'function_call', id: o.id, call_id: o.call_id, name: o.name, arguments: o.arguments, status: 'completed' };
  return {
    type: 'message', id: o.id, role: 'assistant', status: 'completed',
    content: o.content.map((p) => (p.type === 'output_text' ? { type: 'output_text', text: p.text, annotations: [] } : { type: 'refusal', refusal: p.refusal })),
  };
}

function outputOfStored(text: string): OutputItem[] {
  let r: { output?: unknown };
  try { r = JSON.parse(text) as { output?: unknown }; } catch (e) { throw new StoreError('a stored response is not JSON', undefined, { cause: e }); }
  if (!Array.isArray(r.output)) throw new StoreError('a stored response has no output array');
  return r.output as OutputItem[];
}

/** `items` with every reference replaced by the item it names; the same array when there are none. */
export async function resolveReferences(store: ResponseStore, items: readonly (InputItem | ItemReference)[]): Promise<InputItem[]> {
  const out: InputItem[] = [];
  const outputs = new Map<string, OutputItem[] | null>();
  for (const it of items) {
    if (it.type !== 'item_reference') { out.push(it); continue; }
    const rid = responseIdOfItem(it.id);
    let found: OutputItem | undefined;
    if (rid !== null) {
      let list = outputs.get(rid);
      if (list === undefined) {
        const s = await store.get(DEFAULT_ORG, rid).catch(storeFailure);
        list = s === undefined ? null : outputOfStored(s.response);
        outputs.set(rid, list);
      }
      found = list?.find((o) => o.id === it.id);
    }
    if (found === undefined) throw invalid(`${it.at}.id`, `names no stored output item: ${JSON.stringify(it.id.slice(0, 256))} (its response was stored with "store": false, deleted, or expired, or the id is not one this server made)`);
    out.push(asInput(found));
  }
  return out;
}
