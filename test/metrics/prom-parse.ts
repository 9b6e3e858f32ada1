/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests:
 * every line is a HELP, a TYPE, a blank line or a sample of a declared
 * family; names and label names match the format's grammar; label values are
 * properly escaped; no series appears twice; histograms have cumulative,
 * non-decreasing buckets ending in le="+Inf" equal to _count, plus _sum.
 * Throws naming the line on anything else.
 */
export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Family { name: string; type: string; help: string; samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, line: number): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value ${JSON.stringify(s)}`);
  return Number(s);
}

function parseLabels(s: string, line: number): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = s.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let j = eq + 2;
    let v = '';
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        const n = s[++j];
        if (n === 'n') v += '\n'; else if (n === '\\' || n === '"') v += n; else throw new Error(`line ${line}: bad escape \\${n}`);
      } else v += s[j];
    }
    if (j >= s.length) throw new Error(`line ${line}: unterminated label value`);
    if (name in out) throw new Error(`line ${line}: label ${name} twice`);
    out[name] = v;
    i = j + 1;
    if (i < s.length) { if (s[i] !== ',') throw new Error(`line ${line}: expected "," between labels`); i++; }
  }
  return out;
}

const familyOf = (sample: string, fams: Map<string, Family>): Family | undefined => {
  if (fams.has(sample)) return fams.get(sample);
  for (const suffix of ['_bucket', '_sum', '_count']) if (sample.endsWith(suffix)) { const f = fams.get(sample.slice(0, -suffix.length)); if (f && (f.type === 'histogram' || f.type === 'summary')) return f; }
  return undefined;
};

export function parsePrometheus(text: string): Map<string, Family> {
  const fams = new Map<string, Family>();
  const seen = new Set<string>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('the exposition does not end with a newline');
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw === '') return;
    if (raw.startsWith('# HELP ')) {
      const rest = raw.slice(7); const sp = rest.indexOf(' ');
      const name = sp < 0 ? rest : rest.slice(0, sp);
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      const f = fams.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      f.help = sp < 0 ? '' : rest.slice(sp + 1);
      fams.set(name, f);
      return;
    }
    if (raw.startsWith('# TYPE ')) {
      const [name, type, extra] = raw.slice(7).split(' ');
      if (!NAME.test(name) || !TYPES.has(type) || extra !== undefined) throw new Error(`line ${line}: bad TYPE line`);
      const f = fams.get(name) ?? { name, type, help: '', samples: [] };
      if (f.samples.length) throw new Error(`line ${line}: TYPE after samples of ${name}`);
      f.type = type;
      fams.set(name, f);
      return;
    }
    if (raw.startsWith('#')) return;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${raw}`);
    const fam = familyOf(m[1], fams);
    if (!fam) throw new Error(`line ${line}: sample of undeclared family ${m[1]}`);
    const labels = m[3] ? parseLabels(m[3], line) : {};
    const key = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
    seen.add(key);
    fam.samples.push({ name: m[1], labels, value: parseValue(m[4], line) });
  });
  for (const f of fams.values()) if (f.type === 'histogram') checkHistogram(f);
  return fams;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const e = series.get(key) ?? { buckets: [] };
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
      e.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name === `${f.name}_sum`) e.sum = s.value;
    else if (s.name === `${f.name}_count`) e.count = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name}`);
    series.set(key, e);
  }
  for (const [key, e] of series) {
    if (e.sum === undefined || e.count === undefined) throw new Error(`${f.name}${key}: _sum or _count missing`);
    for (let i = 1; i < e.buckets.length; i++) {
      if (!(e.buckets[i][0] > e.buckets[i - 1][0])) throw new Error(`${f.name}${key}: le not increasing`);
      if (e.buckets[i][1] < e.buckets[i - 1][1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
    const last = e.buckets[e.buckets.length - 1];
    if (!last || last[0] !== Infinity || last[1] !== e.count) throw new Error(`${f.name}${key}: +Inf bucket missing or not equal to _count`);
  }
}

/** The value of one series (labels matched exactly on the given keys), 0 when absent. */
export function value(fams: Map<string, Family>, family: string, labels: Record<string, string>, sample = family): number {
  const f = fams.get(family);
  if (!f) throw new Error(`no family ${family}`);
  let total = 0;
  for (const s of f.samples) if (s.name === sample && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
  return total;
}
