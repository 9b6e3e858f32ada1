/**
 * Obvious personal data in text (issue 11, the X-GR-Guardrails: moderate
 * guardrail): which KINDS occur, never where or what, so a caller can refuse
 * a request without echoing the values.
 *
 * Each kind is a pattern plus a check that removes most look-alikes:
 *  - email: local@domain.tld (a dot-separated domain ending in 2+ letters).
 *  - phone: a leading + and 8-15 digits in groups (E.164 as people write it),
 *    or the North American (ddd) ddd-dddd / ddd-ddd-dddd / ddd.ddd.dddd; a bare
 *    run of digits is NOT a phone (it is a number in a maths problem).
 *  - payment_card: 13-19 digits, contiguous or in groups split by single
 *    spaces or hyphens, with an issuer prefix (Visa, Mastercard, Amex,
 *    Discover, Diners, JCB, UnionPay, Maestro) AND a valid Luhn check digit.
 *  - us_ssn: ddd-dd-dddd (or with spaces) outside the never-issued ranges
 *    (area 000, 666, 900-999; group 00; serial 0000).
 *  - iban: two letters of an IBAN country, two check digits, the country's
 *    length, and the ISO 13616 mod-97 check (remainder 1).
 *  - ip_address: dotted-quad IPv4 that is not part of a longer dotted
 *    number (1.2.3.4.5, a version string), other than 0.x, 127.x and 255.x
 *    (unspecified, loopback, netmasks: what code and docs are full of and no
 *    person is identified by); IPv6 with at least three groups as node:net
 *    validates it, other than ::1 and ::.
 *
 * What can go wrong: it is pattern matching. Obfuscated data ("john at
 * example dot com", digits spelled out) passes; a number that happens to
 * match a format and its check (a 16-digit product code starting with 4 whose
 * Luhn digit works out: about 1 in 10 of such strings) is blocked. The
 * false-positive rate on the shared RouterBench prompts and the detection
 * rate on a generated set are in the README (Operating: PII guardrail;
 * scripts/pii-eval.ts measures both).
 *
 * Cost: a few regex passes over the text, ~10 ns a character: 13-18 µs for
 * a RouterBench prompt (mean 1,569 characters), 26-42 µs for a model answer
 * (900 characters, more digits and colons) (scripts/pii-eval.ts, 2-core
 * machine at load 10-12). Paid only on requests the guardrail is on for.
 *
 * Measured by scripts/pii-eval.ts (seed 11, 2026-12-05): 0 of 2,225 distinct
 * RouterBench prompts flagged (0.00%); 12 of 3,338 of the models' answers
 * (0.36%: 11 IP addresses in code about IP addresses, 1 phone-shaped number);
 * 500 of 500 generated values found for every kind.
 */
import { isIPv6 } from 'node:net';

export const PII_KINDS = ['email', 'phone', 'payment_card', 'us_ssn', 'iban', 'ip_address'] as const;
export type PiiKind = (typeof PII_KINDS)[number];

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/;
// + then 8-15 digits in groups of 1-5 separated by a space, '.', '-' or parentheses.
const PHONE_INTL = /(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?![\w])/g;
// North American: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567 (separators required).
const PHONE_NANP = /(?<![\w.-])(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w]|[.-]\d)/;
const CARD = /(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w]|[.-]\d)/g;
const SSN = /(?<![\w.-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w]|[.-]\d)/g;
const IBAN = /(?<![A-Za-z0-9])([A-Z]{2})(\d{2})((?: ?[A-Z0-9]){11,30})(?![A-Za-z0-9])/g;
const IPV4 = /(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)/g;
const IPV6 = /(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])/g;

/** ISO 13616 lengths of the IBAN countries (SWIFT registry). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28,
  HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25,
  QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20,
};

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (dbl) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

/** Issuer prefixes and the lengths each issues (ISO/IEC 7812 IIN ranges of the major networks). */
function cardIssuerValid(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  const p6 = Number(d.slice(0, 6));
  if (d[0] === '4') return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // Amex
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925)) return n >= 16 && n <= 19; // Discover
  if (p2 === 36 || p2 === 38 || p2 === 39 || (p3 >= 300 && p3 <= 305) || p4 === 3095) return n >= 14 && n <= 19; // Diners
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
  if (p2 === 62) return n >= 16 && n <= 19; // UnionPay
  if (p2 === 50 || (p2 >= 56 && p2 <= 69) || p4 === 6759) return n >= 12 && n <= 19; // Maestro
  return false;
}

/** ISO 7064 mod 97-10 over the rearranged IBAN (letters as 10..35), in chunks so no big integers are needed. */
export function ibanValid(compact: string): boolean {
  const want = IBAN_LENGTHS[compact.slice(0, 2)];
  if (want === undefined || compact.length !== want) return false;
  const s = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

function anyMatch(re: RegExp, text: string, ok: (m: RegExpExecArray) => boolean): boolean {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (ok(m)) { re.lastIndex = 0; return true; }
  }
  return false;
}

const digitCount = (s: string) => { let n = 0; for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c >= 48 && c <= 57) n++; } return n; };

/** The kinds of personal data found in `text`, in PII_KINDS order; empty when none. */
export function detectPii(text: string): PiiKind[] {
  const out: PiiKind[] = [];
  // Cheap pre-checks: most prompts have no '@' and few digits, and skip most patterns.
  const at = text.includes('@');
  const digits = /\d/.test(text);
  if (at && EMAIL.test(text)) out.push('email');
  if (digits) {
    if ((text.includes('+') && anyMatch(PHONE_INTL, text, (m) => { const n = digitCount(m[0]); return n >= 8 && n <= 15; })) || PHONE_NANP.test(text)) out.push('phone');
    if (anyMatch(CARD, text, (m) => { const d = m[0].replace(/[ -]/g, ''); return d.length >= 13 && d.length <= 19 && cardIssuerValid(d) && luhnValid(d) && consistentSeparators(m[0]); })) out.push('payment_card');
    if (anyMatch(SSN, text, (m) => { const a = Number(m[1]); return a !== 0 && a !== 666 && a < 900 && m[3] !== '00' && m[4] !== '0000'; })) out.push('us_ssn');
    if (anyMatch(IBAN, text, (m) => ibanValid(m[0].replace(/ /g, '')))) out.push('iban');
    if (anyMatch(IPV4, text, (m) => { const o = [m[1], m[2], m[3], m[4]].map(Number); return o.every((x, i) => x <= 255 && (String(x) === [m[1], m[2], m[3], m[4]][i])) && o[0] !== 0 && o[0] !== 127 && o[0] !== 255; })
      || (text.includes(':') && anyMatch(IPV6, text, (m) => isIPv6(m[0]) && m[0] !== '::1' && m[0] !== '::' && /[0-9A-Fa-f]{2}/.test(m[0])))) out.push('ip_address');
  } else if (text.includes(':') && anyMatch(IPV6, text, (m) => isIPv6(m[0]) && /[0-9A-Fa-f]{2}/.test(m[0]))) out.push('ip_address');
  return out;
}

/** A card number is written with one kind of separator (or none): "4111 1111-1111 1111" is not one. */
function consistentSeparators(s: string): boolean {
  return !(s.includes(' ') && s.includes('-'));
}

/**
 * Every string value of a parsed JSON body, depth-first (object keys are not
 * content). `limit` bounds the characters gathered: a body is at most
 * server.body_limit anyway, so this only stops pathological nesting.
 */
export function jsonStrings(v: unknown, out: string[] = [], depth = 0): string[] {
  if (typeof v === 'string') out.push(v);
  else if (depth < 64 && v !== null && typeof v === 'object') {
    if (Array.isArray(v)) for (const x of v) jsonStrings(x, out, depth + 1);
    else for (const k in v) jsonStrings((v as Record<string, unknown>)[k], out, depth + 1);
  }
  return out;
}
