/**
 * Rule routing (the 2Signal API's model, plus task and cluster conditions):
 * a router config is data, compiled once, then evaluated per prompt.
 *
 *   {id?, name, default_model, candidates?, cost_weight?, version?,
 *    rules: [{name?, priority, condition, model}]}
 *
 *   conditions  {type: "complexity",  operator: gt|gte|lt|lte, value: 0..1}
 *               {type: "token_count", operator: gt|gte|lt|lte, value: >= 0}
 *               {type: "keyword", keywords: [...], match: any|all (any),
 *                case_sensitive: false, whole_word: true}
 *               {type: "always"}
 *               {type: "task", tasks: [classifier.ts TASKS...]}
 *               {type: "cluster", clusters: [router profile cluster ids]}
 *
 * Evaluation: rules by priority, highest first; equal priorities in list
 * order; the first rule whose condition holds names the model; none holds =
 * default_model. Validation (field-named errors) is rules-validate.ts; compile
 * assumes a valid config.
 *
 * Signals are lazy: a signal is computed the first time a rule being tried
 * needs it, once per evaluation, and never when no rule needs it (a config of
 * keyword rules costs a regex test per rule, no scan). complexity, tokens and
 * task share one text scan. The decision lists the signals it computed; a
 * caller that must report one anyway (the 2Signal answer has `complexity`)
 * asks for it with `want`, and a caller that already has one (a cluster from
 * the route pool, an ONNX embedding computed elsewhere) passes it in `given`.
 *
 * Keywords compile to one RegExp per rule for match "any" (an alternation)
 * and one per keyword for "all"; V8 compiles them to native code, ~0.1-0.3 µs
 * a test on a 200-character prompt. Whole words are delimited by any
 * character that is not a Unicode letter, digit or '_' (so "c++" and "ci/cd"
 * work as keywords, and "cat" does not match "concatenate").
 */
import { scanText, type TextScan } from './text-scan.ts';
import { complexityOfScan, DEFAULT_WEIGHTS, type ComplexityWeights } from './complexity.ts';
import { tokensOfScan, type TokenModel } from './tokens.ts';
import { classifyScan, heuristicClassifier, type Classification, type Task, type TaskClassifier } from './classifier.ts';
import type { Router } from './router.ts';
import type { SyncEmbedder } from './embedders/types.ts';

export type Operator = 'gt' | 'gte' | 'lt' | 'lte';
export const OPERATORS: readonly Operator[] = ['gt', 'gte', 'lt', 'lte'];

export type Condition =
  | { type: 'complexity'; operator: Operator; value: number }
  | { type: 'token_count'; operator: Operator; value: number }
  | { type: 'keyword'; keywords: string[]; match?: 'any' | 'all'; case_sensitive?: boolean; whole_word?: boolean }
  | { type: 'always' }
  | { type: 'task'; tasks: Task[] }
  | { type: 'cluster'; clusters: number[] };
export type ConditionType = Condition['type'];
export const CONDITION_TYPES: readonly ConditionType[] = ['complexity', 'token_count', 'keyword', 'always', 'task', 'cluster'];

export interface Rule { name?: string; priority: number; condition: Condition; model: string }

export interface RouterConfig {
  /** UUID, assigned by the store. */
  id?: string;
  name: string;
  default_model: string;
  candidates?: string[];
  cost_weight?: number;
  rules: Rule[];
  /** Increases on every change; assigned by the store. */
  version?: number;
}

export type SignalName = 'complexity' | 'tokens' | 'task' | 'cluster';

export interface Signals {
  complexity?: number;
  tokens?: number;
  task?: Classification;
  cluster?: number;
}

export interface SignalSources {
  /** Task classifier; default the heuristic one. A per-organisation wrapper (issue 11) goes here. */
  classifier?: TaskClassifier;
  /** Nearest cluster of the router profile for a text; required when a rule has a cluster condition. */
  clusterOf?: (text: string) => number;
  tokenModel?: TokenModel;
  complexityWeights?: ComplexityWeights;
}

export interface MatchedRule { index: number; name: string | null; priority: number; type: ConditionType }

export interface RuleDecision {
  model: string;
  /** The rule that chose the model; null = no rule matched, default_model. */
  matchedRule: MatchedRule | null;
  /** The signals this evaluation computed or was given; the others are absent. */
  signals: Signals;
  configName: string;
  version: number | null;
}

export interface EvaluateOptions {
  /** Signals to compute even when no rule needs them. */
  want?: readonly SignalName[];
  /** Signals already known: used instead of computing them. */
  given?: Signals;
}

export class RuleCompileError extends Error {
  override name = 'RuleCompileError';
}

type Test = (ctx: Context) => boolean;

/** Per-evaluation state: the text, its lazily computed scan and signals. */
class Context {
  private scanned: TextScan | null = null;
  readonly signals: Signals;
  constructor(readonly text: string, private readonly src: Required<Omit<SignalSources, 'clusterOf'>> & Pick<SignalSources, 'clusterOf'>, given: Signals | undefined) {
    this.signals = given ? { ...given } : {};
  }
  private scan(): TextScan { return (this.scanned ??= scanText(this.text)); }
  complexity(): number { return (this.signals.complexity ??= complexityOfScan(this.scan(), this.src.complexityWeights)); }
  tokens(): number { return (this.signals.tokens ??= tokensOfScan(this.scan(), this.src.tokenModel)); }
  task(): Classification {
    // The built-in classifier reuses the shared scan; any other gets the text.
    return (this.signals.task ??= this.src.classifier === heuristicClassifier ? classifyScan(this.scan(), this.text) : this.src.classifier.classify(this.text));
  }
  cluster(): number {
    if (this.signals.cluster === undefined) {
      if (!this.src.clusterOf) throw new RuleCompileError('a cluster condition needs a router profile (clusterOf)');
      this.signals.cluster = this.src.clusterOf(this.text);
    }
    return this.signals.cluster;
  }
}

function compare(op: Operator, a: number, b: number): boolean {
  switch (op) {
    case 'gt': return a > b;
    case 'gte': return a >= b;
    case 'lt': return a < b;
    case 'lte': return a <= b;
  }
}

// Not '-': in a 'u' RegExp an escaped '-' outside a class is a syntax error.
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** One RegExp for a set of keywords (any of them), honouring case and whole-word options. */
export function keywordRegExp(keywords: readonly string[], caseSensitive: boolean, wholeWord: boolean): RegExp {
  // Longest first, so an alternation prefers "machine learning" to "machine" (matters only to what matched, not whether).
  const alt = [...keywords].sort((a, b) => b.length - a.length).map(escapeRe).join('|');
  const body = wholeWord ? `(?<![\\p{L}\\p{N}_])(?:${alt})(?![\\p{L}\\p{N}_])` : `(?:${alt})`;
  return new RegExp(body, caseSensitive ? 'u' : 'iu');
}

function compileCondition(c: Condition): Test {
  switch (c.type) {
    case 'always': return () => true;
    case 'complexity': { const { operator, value } = c; return (x) => compare(operator, x.complexity(), value); }
    case 'token_count': { const { operator, value } = c; return (x) => compare(operator, x.tokens(), value); }
    case 'task': { const set = new Set<string>(c.tasks); return (x) => set.has(x.task().task); }
    case 'cluster': { const set = new Set<number>(c.clusters); return (x) => set.has(x.cluster()); }
    case 'keyword': {
      const cs = c.case_sensitive ?? false, ww = c.whole_word ?? true;
      if ((c.match ?? 'any') === 'any') { const re = keywordRegExp(c.keywords, cs, ww); return (x) => re.test(x.text); }
      const res = c.keywords.map((k) => keywordRegExp([k], cs, ww));
      return (x) => { for (const re of res) if (!re.test(x.text)) return false; return true; };
    }
  }
}

const SIGNAL_OF: Partial<Record<ConditionType, SignalName>> = { complexity: 'complexity', token_count: 'tokens', task: 'task', cluster: 'cluster' };

export class CompiledConfig {
  /** Signals some rule may need (the rest are never computed unless asked for). */
  readonly needs: ReadonlySet<SignalName>;
  private readonly order: { rule: Rule; index: number; test: Test }[];
  private readonly src: Required<Omit<SignalSources, 'clusterOf'>> & Pick<SignalSources, 'clusterOf'>;

  constructor(readonly config: Readonly<RouterConfig>, sources: SignalSources = {}) {
    this.src = {
      classifier: sources.classifier ?? heuristicClassifier,
      clusterOf: sources.clusterOf,
      tokenModel: sources.tokenModel ?? 'cl100k_base',
      complexityWeights: sources.complexityWeights ?? DEFAULT_WEIGHTS,
    };
    // Array.prototype.sort is stable: equal priorities keep list order.
    this.order = config.rules.map((rule, index) => ({ rule, index, test: compileCondition(rule.condition) }))
      .sort((a, b) => b.rule.priority - a.rule.priority);
    const needs = new Set<SignalName>();
    for (const r of config.rules) { const s = SIGNAL_OF[r.condition.type]; if (s) needs.add(s); }
    this.needs = needs;
    if (needs.has('cluster') && !sources.clusterOf) throw new RuleCompileError(`config "${config.name}": a cluster condition needs a router profile (clusterOf)`);
  }

  evaluate(text: string, opts: EvaluateOptions = {}): RuleDecision {
    const ctx = new Context(text, this.src, opts.given);
    let matched: MatchedRule | null = null;
    let model = this.config.default_model;
    for (const { rule, index, test } of this.order) {
      if (test(ctx)) {
        matched = { index, name: rule.name ?? null, priority: rule.priority, type: rule.condition.type };
        model = rule.model;
        break;
      }
    }
    if (opts.want) for (const w of opts.want) ctx[w]();
    return { model, matchedRule: matched, signals: ctx.signals, configName: this.config.name, version: this.config.version ?? null };
  }
}

/** Compiles a (validated) config; throws RuleCompileError when a condition needs a source that is missing. */
export function compileConfig(config: Readonly<RouterConfig>, sources?: SignalSources): CompiledConfig {
  return new CompiledConfig(config, sources);
}

/**
 * clusterOf for a router profile and a synchronous embedder (the native one):
 * the nearest cluster id, as Router.route reports it in Decision.clusterId.
 * Costs one embedding plus one nearest search (~20-40 µs at K=100). With an
 * asynchronous embedder (ONNX) embed first and pass the cluster in `given`.
 */
export function clusterOfRouter(router: Router, embedder: SyncEmbedder): (text: string) => number {
  const vec = new Float32Array(embedder.dim), ids = new Int32Array(1), sims = new Float32Array(1);
  return (text) => {
    router.index.search(embedder.embedSync(text, vec), 1, ids, sims);
    return ids[0];
  };
}
