/**
 * One pass over a prompt's UTF-16 code units that counts everything the
 * signals need (complexity.ts, tokens.ts, classifier.ts): characters by kind,
 * words, distinct words, sentences, list and option lines, code fences, and
 * per-category lexicon hits (lexicon.ts). The signals are then arithmetic on
 * these counts, so computing two of them costs one scan (rules.ts shares it).
 *
 * Cost: 2.3 µs p50 for 200 characters (bench/micro.ts "token estimate", which
 * is this scan plus nine multiply-adds, on a 2-core machine at load average
 * 12-16; linear in length: ~46 µs for 4,000); no string is built per
 * word (the word's hash is folded in as its characters go by) and nothing is
 * allocated but the result, which a hot caller can pass in to reuse.
 *
 * Definitions (what can go wrong is in the comments beside each):
 *  - word: a maximal run of ASCII letters, digits, '_' or any non-ASCII code
 *    unit that is not a space or punctuation. A CJK sentence without spaces is
 *    therefore one long word (the token estimate leans on nonAscii instead).
 *  - distinct words: counted in a 2,048-slot table up to DISTINCT_CAP; after
 *    that the count stops and `wordsAtCap` says how many words it covered, so
 *    a diversity ratio stays honest on a 100k-character prompt.
 *  - sentence: '.', '!' or '?' right after a word character and followed by
 *    whitespace or the end; a text with words and no terminator is one sentence.
 *  - list item: a line starting with 1-3 digits then '.' or ')', or '-', '*',
 *    '•' then a space. option line: a line starting with one capital A-H then
 *    ')' or '.', or '(' letter ')': multiple-choice answers.
 */
import { LEXICON, N_CAT } from './lexicon.ts';

export interface TextScan {
  chars: number;
  words: number;
  distinct: number;
  /** Words seen when the distinct count stopped (= words when it never did). */
  wordsAtCap: number;
  letters: number;
  digits: number;
  upper: number;
  nonAscii: number;
  whitespace: number;
  newlines: number;
  /** . , : ! ? ' " ( ) - and other ASCII punctuation that is not a code symbol. */
  punct: number;
  /** { } [ ] ; = + * / ^ < > % | & \ ` # $ ~ @ */
  codeSym: number;
  /** { } [ ] and ; only (statement and block syntax). */
  blockSym: number;
  /** = + * / ^ < > % (operators, math or code). */
  ops: number;
  sentences: number;
  /** Words of 9 or more characters. */
  longWords: number;
  /** Sum over words of max(0, length - 6): long words split into more BPE tokens. */
  wordExcess: number;
  /** Words made only of digits. */
  numbers: number;
  fences: number;
  listItems: number;
  optionLines: number;
  questionMarks: number;
  /** Lexicon hits per category bit (index = bit position, see lexicon.ts CAT). */
  cat: Int32Array;
  /** The same, over the first HEAD_WORDS words only: where an instruction usually is ("Translate ...", "Summarize ..."). */
  catHead: Int32Array;
}

export const HEAD_WORDS = 24;

const TABLE = 2048;
const DISTINCT_CAP = 1024;
const keys = new Int32Array(TABLE);
const gens = new Int32Array(TABLE);
let gen = 0;

export function emptyScan(): TextScan {
  return {
    chars: 0, words: 0, distinct: 0, wordsAtCap: 0, letters: 0, digits: 0, upper: 0, nonAscii: 0, whitespace: 0,
    newlines: 0, punct: 0, codeSym: 0, blockSym: 0, ops: 0, sentences: 0, longWords: 0, wordExcess: 0, numbers: 0,
    fences: 0, listItems: 0, optionLines: 0, questionMarks: 0, cat: new Int32Array(N_CAT), catHead: new Int32Array(N_CAT),
  };
}

/** Non-ASCII code units that separate words: no-break and typographic spaces, general and CJK punctuation. */
function nonAsciiSeparator(c: number): boolean {
  return c === 0xa0 || (c >= 0x2000 && c <= 0x206f) || (c >= 0x3000 && c <= 0x303f) || (c >= 0xff01 && c <= 0xff0f) || c === 0xfeff;
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 9 || c === 13 || c === 11 || c === 12;

export function scanText(s: string, out: TextScan = emptyScan()): TextScan {
  if (++gen === 0x7fffffff) { gen = 1; gens.fill(0); }
  const n = s.length;
  const cat = out.cat, catHead = out.catHead;
  cat.fill(0);
  catHead.fill(0);
  let words = 0, distinct = 0, wordsAtCap = -1, letters = 0, digits = 0, upper = 0, nonAscii = 0, whitespace = 0;
  let newlines = 0, punct = 0, codeSym = 0, blockSym = 0, ops = 0, sentences = 0, longWords = 0, wordExcess = 0;
  let numbers = 0, fences = 0, listItems = 0, optionLines = 0, questionMarks = 0;
  let h = 0, wl = 0, wDigits = 0, wUpper = 0;
  // lineStart: no non-space seen yet on this line; firstWord: the word being read is the line's first token.
  let lineStart = true, firstWord = false, backticks = 0;
  // Words since the last sentence terminator: an unterminated last sentence still counts.
  let tail = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 32;
    const word = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || (c >= 128 && !nonAsciiSeparator(c));
    if (word) {
      if (wl === 0) { h = 0x811c9dc5; wDigits = 0; wUpper = 0; firstWord = lineStart; lineStart = false; }
      let lc = c;
      if (c >= 65 && c <= 90) { lc = c + 32; upper++; wUpper++; letters++; }
      else if (c >= 97 && c <= 122) letters++;
      else if (c >= 48 && c <= 57) { digits++; wDigits++; }
      else if (c >= 128) nonAscii++;
      h = Math.imul(h ^ lc, 0x01000193);
      wl++;
      continue;
    }
    if (wl > 0) {
      words++;
      if (wl >= 9) longWords++;
      if (wl > 6) wordExcess += wl - 6;
      if (wDigits === wl) numbers++;
      const k = h & 0x3fffffff;
      const cats = LEXICON.get(k);
      if (cats !== undefined) {
        for (let b = cats; b !== 0; b &= b - 1) cat[31 - Math.clz32(b & -b)]++;
        if (words <= HEAD_WORDS) for (let b = cats; b !== 0; b &= b - 1) catHead[31 - Math.clz32(b & -b)]++;
      }
      if (wordsAtCap < 0) {
        let slot = k & (TABLE - 1);
        while (gens[slot] === gen && keys[slot] !== k) slot = (slot + 1) & (TABLE - 1);
        if (gens[slot] !== gen) {
          gens[slot] = gen; keys[slot] = k;
          if (++distinct === DISTINCT_CAP) wordsAtCap = words;
        }
      }
      // A line's marker ("1." "A)") is neither a word of a sentence nor its end.
      let marker = false;
      if (firstWord) {
        const next = i < n ? c : 0;
        if (wDigits === wl && wl <= 3 && (next === 46 || next === 41)) { listItems++; marker = true; }
        else if (wl === 1 && wUpper === 1 && (next === 41 || next === 46)) {
          const letter = s.charCodeAt(i - 1);
          if (letter >= 65 && letter <= 72) { optionLines++; marker = true; }
        }
      }
      wl = 0;
      if (!marker) {
        tail++;
        // A sentence ends at . ! ? directly after a word and before whitespace or the end.
        if ((c === 46 || c === 33 || c === 63) && (i + 1 >= n || isSpace(s.charCodeAt(i + 1)))) { sentences++; tail = 0; }
      }
    }
    if (i === n) break;
    if (c !== 96) backticks = 0;
    if (c === 10) { newlines++; whitespace++; lineStart = true; continue; }
    if (isSpace(c) || c >= 128) { if (c >= 128) nonAscii++; whitespace++; continue; }
    // ASCII punctuation or symbol.
    if (lineStart) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if ((c === 45 || c === 42) && next === 32) listItems++;
      else if (c === 40 && next >= 65 && next <= 72 && i + 2 < n && s.charCodeAt(i + 2) === 41) optionLines++;
      lineStart = false;
    }
    switch (c) {
      case 123: case 125: case 91: case 93: case 59: blockSym++; codeSym++; break;
      case 61: case 43: case 42: case 47: case 94: case 60: case 62: case 37: ops++; codeSym++; break;
      case 124: case 38: case 92: case 35: case 36: case 126: case 64: codeSym++; break;
      case 96: codeSym++; if (++backticks === 3) { fences++; backticks = 0; } break;
      case 63: questionMarks++; punct++; break;
      default: punct++;
    }
  }
  out.chars = n; out.words = words; out.distinct = distinct; out.wordsAtCap = wordsAtCap < 0 ? words : wordsAtCap;
  out.letters = letters; out.digits = digits; out.upper = upper; out.nonAscii = nonAscii; out.whitespace = whitespace;
  out.newlines = newlines; out.punct = punct; out.codeSym = codeSym; out.blockSym = blockSym; out.ops = ops;
  out.sentences = tail > 0 ? sentences + 1 : sentences;
  out.longWords = longWords; out.wordExcess = wordExcess; out.numbers = numbers; out.fences = fences;
  out.listItems = listItems; out.optionLines = optionLines; out.questionMarks = questionMarks;
  return out;
}
