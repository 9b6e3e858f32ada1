/**
 * Which part of a prompt the router embeds (issue 13, item 4).
 *
 * Two of RouterBench's three tasks (ARC, Winogrande) send every question behind
 * the same long few-shot prefix: worked examples separated by blank lines, the
 * real question last. Embedding the whole prompt makes those prompts look
 * alike (the shared prefix dominates the features), so the router sees the
 * task but little of the question. `last_question` embeds the tail instead.
 *
 * The rule (deterministic, documented in README "Fitting"):
 *  1. split the text at every match of `separator` (a RegExp source; default
 *     one or more blank lines, `\n[ \t]*\n\s*`);
 *  2. drop blocks that are empty after trimming;
 *  3. take the last block; while the taken text is shorter than `min_chars`
 *     (default 400) and earlier blocks remain, prepend the previous block
 *     (joined by a blank line), so a short closing line ("Answer:") keeps its
 *     question and a short question keeps the example or two before it;
 *  4. a text with no separator, or only blank blocks, is used whole.
 * `full` embeds the text unchanged (the default: profiles fitted before this
 * option exist and the embedder hash of a `full` embedder is unchanged).
 *
 * It is part of the native embedder's parameters (embedder.json), so the
 * fitted tables, the embedder hash, fitting, evaluation and every server path
 * that embeds a prompt apply the same rule: a profile can never be served with
 * a different selection than it was fitted with (the hash check refuses it).
 * Cost: one RegExp split per prompt (~1 µs for a few KB), and the embedder
 * then hashes fewer characters, which more than pays for it on long prompts.
 */
export type TextSelection =
  | { mode: 'full' }
  | { mode: 'last_question'; separator: string; min_chars: number };

export const DEFAULT_SEPARATOR = '\\n[ \\t]*\\n\\s*';
/**
 * 400: cross-validated on RouterBench (README, issue 13 figures), 40 / 400 / 800 gave AIQ
 * 0.8310 / 0.8423 / 0.8425 with clusters: a few of the last blocks (the question and the
 * one or two worked examples before it) beat the bare question and the whole prompt.
 */
export const DEFAULT_MIN_CHARS = 400;

export function lastQuestion(separator = DEFAULT_SEPARATOR, minChars = DEFAULT_MIN_CHARS): TextSelection {
  return { mode: 'last_question', separator, min_chars: minChars };
}

/** Throws naming the field when a selection (from a file or a flag) is malformed. */
export function validateSelection(s: unknown, where: string): TextSelection {
  if (typeof s !== 'object' || s === null) throw new Error(`${where}: "select" must be an object`);
  const o = s as Record<string, unknown>;
  if (o.mode === 'full') return { mode: 'full' };
  if (o.mode !== 'last_question') throw new Error(`${where}: "select.mode" must be "full" or "last_question", got ${JSON.stringify(o.mode)}`);
  if (typeof o.separator !== 'string' || o.separator === '') throw new Error(`${where}: "select.separator" must be a non-empty RegExp source`);
  try { new RegExp(o.separator); } catch (e) { throw new Error(`${where}: "select.separator" is not a valid RegExp (${(e as Error).message})`); }
  if (!Number.isInteger(o.min_chars) || (o.min_chars as number) < 0) throw new Error(`${where}: "select.min_chars" must be a non-negative integer`);
  return { mode: 'last_question', separator: o.separator, min_chars: o.min_chars as number };
}

/** Compiles a selection into a text -> text function (identity for `full`). */
export function compileSelection(s: TextSelection | undefined): (text: string) => string {
  if (s === undefined || s.mode === 'full') return (t) => t;
  const re = new RegExp(s.separator);
  const min = s.min_chars;
  return (text) => {
    const blocks = text.split(re);
    let i = blocks.length - 1;
    while (i >= 0 && blocks[i].trim() === '') i--;
    if (i <= 0) return text;
    let out = blocks[i].trim();
    for (let j = i - 1; out.length < min && j >= 0; j--) {
      const b = blocks[j].trim();
      if (b !== '') out = `${b}\n\n${out}`;
    }
    return out;
  };
}
