/**
 * Measures the PII guardrail's detector (src/routing/pii.ts):
 *  - false positives: the share of the shared RouterBench prompts (distinct
 *    `prompt` values of ../shared/data/routerbench/*.csv, none of which holds
 *    real personal data) it would block, per kind, with examples of what
 *    matched (the matched prompt's first characters, for a human to judge);
 *    the models' answers in the same files as a second, code-heavier corpus;
 *  - detection: a generated set, per kind, of valid values (Luhn-valid cards
 *    with real issuer prefixes, IBANs with correct check digits, SSNs in
 *    issued ranges, ...) written into sentences in the formats people use;
 *  - cost: µs per prompt.
 *
 *   node --import tsx scripts/pii-eval.ts [--data DIR] [--seed N] [--per-kind N] [--json]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { detectPii, PII_KINDS, type PiiKind } from '../src/routing/pii.ts';
import { mulberry32 } from '../src/seeded-random.ts';

const args = process.argv.slice(2);
const flag = (name: string, def: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const DATA = resolve(flag('data', join(dirname(fileURLToPath(import.meta.url)), '../../shared/data/routerbench')));
const SEED = Number(flag('seed', '11'));
const PER_KIND = Number(flag('per-kind', '500'));

function corpus(column: (name: string) => boolean): string[] {
  const out = new Set<string>();
  for (const f of readdirSync(DATA).filter((n) => n.endsWith('.csv')).sort()) {
    const rows: Record<string, string>[] = parse(readFileSync(join(DATA, f)), { columns: true, skip_empty_lines: true, relax_column_count: true });
    for (const r of rows) for (const [k, v] of Object.entries(r)) if (column(k) && v) out.add(v);
  }
  return [...out];
}

function falsePositives(texts: readonly string[]) {
  const byKind: Record<string, number> = {};
  const examples: Record<string, string[]> = {};
  let flagged = 0;
  const t0 = performance.now();
  for (const t of texts) {
    const kinds = detectPii(t);
    if (kinds.length === 0) continue;
    flagged++;
    for (const k of kinds) {
      byKind[k] = (byKind[k] ?? 0) + 1;
      (examples[k] ??= []).length < 3 && examples[k].push(t.replace(/\s+/g, ' ').slice(0, 160));
    }
  }
  const us = ((performance.now() - t0) * 1000) / texts.length;
  const chars = texts.reduce((n, t) => n + t.length, 0) / texts.length;
  return { texts: texts.length, flagged, rate: flagged / texts.length, byKind, examples, usPerText: Number(us.toFixed(2)), meanChars: Math.round(chars) };
}

// ---- the generated positives ----
const rnd = mulberry32(SEED);
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));

function luhnComplete(partial: string): string {
  for (let d = 0; d < 10; d++) {
    const s = partial + d;
    let sum = 0;
    for (let i = s.length - 1, dbl = false; i >= 0; i--, dbl = !dbl) { let x = s.charCodeAt(i) - 48; if (dbl) { x *= 2; if (x > 9) x -= 9; } sum += x; }
    if (sum % 10 === 0) return s;
  }
  throw new Error('unreachable');
}

function card(): string {
  const [prefix, len] = pick([['4', 16], ['4', 13], ['51', 16], ['55', 16], ['2221', 16], ['34', 15], ['37', 15], ['6011', 16], ['65', 16], ['3530', 16], ['36', 14], ['62', 16]] as const);
  const n = luhnComplete(prefix + digits(len - prefix.length - 1));
  const style = int(0, 2);
  if (style === 0) return n;
  const sep = style === 1 ? ' ' : '-';
  return len === 15 ? `${n.slice(0, 4)}${sep}${n.slice(4, 10)}${sep}${n.slice(10)}` : n.match(/.{1,4}/g)!.join(sep);
}

function iban(): string {
  const [cc, len] = pick([['DE', 22], ['GB', 22], ['FR', 27], ['ES', 24], ['IT', 27], ['NL', 18], ['BE', 16], ['CH', 21]] as const);
  let bban = '';
  for (let i = 0; i < len - 4; i++) bban += cc === 'GB' && i < 4 ? String.fromCharCode(65 + int(0, 25)) : cc === 'NL' && i < 4 ? String.fromCharCode(65 + int(0, 25)) : String(int(0, 9));
  const numeric = (bban + cc + '00').replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let rem = 0;
  for (const ch of numeric) rem = (rem * 10 + Number(ch)) % 97;
  const check = String(98 - rem).padStart(2, '0');
  const compact = cc + check + bban;
  return rnd() < 0.5 ? compact : compact.match(/.{1,4}/g)!.join(' ');
}

const NAMES = ['jane.doe', 'j.smith', 'maria_garcia', 'wei.zhang', 'o.connor', 'alex+work', 'k.nakamura'];
const DOMAINS = ['example.com', 'mail.example.org', 'corp.example.co.uk', 'uni.example.edu', 'example.io'];
const GENERATORS: Record<PiiKind, () => string> = {
  email: () => `${pick(NAMES)}${int(0, 99)}@${pick(DOMAINS)}`,
  phone: () => pick([
    () => `+1 ${int(201, 989)} ${int(200, 999)} ${digits(4)}`,
    () => `+44 20 ${int(7000, 8999)} ${digits(4)}`,
    () => `+49 30 ${digits(8)}`,
    () => `+33 ${int(1, 9)} ${digits(2)} ${digits(2)} ${digits(2)} ${digits(2)}`,
    () => `(${int(201, 989)}) ${int(200, 999)}-${digits(4)}`,
    () => `${int(201, 989)}-${int(200, 999)}-${digits(4)}`,
    () => `${int(201, 989)}.${int(200, 999)}.${digits(4)}`,
  ])(),
  payment_card: card,
  us_ssn: () => { let a = int(1, 899); if (a === 666) a = 667; return `${String(a).padStart(3, '0')}-${String(int(1, 99)).padStart(2, '0')}-${String(int(1, 9999)).padStart(4, '0')}`; },
  iban,
  ip_address: () => (rnd() < 0.7 ? `${pick([int(1, 126), int(128, 223)])}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}` : `2001:db8:${int(0, 65535).toString(16)}::${int(1, 65535).toString(16)}`),
};
const TEMPLATES = [
  (v: string) => `Please update my record, it's ${v}.`,
  (v: string) => `${v}`,
  (v: string) => `Can you check this for me: ${v}, thanks!`,
  (v: string) => `Customer details\nName: Pat Lee\nValue: ${v}\nNotes: none`,
  (v: string) => `"${v}" is what the form said (${v.length} chars)`,
];

function detection() {
  const out: Record<string, { n: number; found: number; rate: number; misses: string[] }> = {};
  for (const kind of PII_KINDS) {
    let found = 0;
    const misses: string[] = [];
    for (let i = 0; i < PER_KIND; i++) {
      const text = pick(TEMPLATES)(GENERATORS[kind]());
      if (detectPii(text).includes(kind)) found++;
      else if (misses.length < 3) misses.push(text);
    }
    out[kind] = { n: PER_KIND, found, rate: found / PER_KIND, misses };
  }
  return out;
}

const prompts = falsePositives(corpus((k) => k === 'prompt'));
const answers = falsePositives(corpus((k) => k.endsWith('|model_response')));
const det = detection();
const report = { data: DATA, seed: SEED, prompts, answers, detection: det };
if (args.includes('--json')) console.log(JSON.stringify(report, null, 2));
else {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  console.log(`RouterBench prompts: ${prompts.texts} distinct, ${prompts.flagged} flagged (${pct(prompts.rate)}) ${JSON.stringify(prompts.byKind)}; ${prompts.usPerText} µs/prompt (mean ${prompts.meanChars} chars)`);
  for (const [k, ex] of Object.entries(prompts.examples)) for (const e of ex) console.log(`  ${k}: ${e}`);
  console.log(`RouterBench model answers: ${answers.texts} distinct, ${answers.flagged} flagged (${pct(answers.rate)}) ${JSON.stringify(answers.byKind)}; ${answers.usPerText} µs/answer (mean ${answers.meanChars} chars)`);
  for (const [k, ex] of Object.entries(answers.examples)) for (const e of ex) console.log(`  ${k}: ${e}`);
  console.log(`Generated positives (seed ${SEED}, ${PER_KIND} per kind):`);
  for (const [k, d] of Object.entries(det)) console.log(`  ${k.padEnd(13)} ${d.found}/${d.n} (${pct(d.rate)})${d.misses.length ? `  missed e.g. ${JSON.stringify(d.misses[0])}` : ''}`);
}
