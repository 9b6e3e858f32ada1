import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileConfig, RuleCompileError, type Condition, type RouterConfig, type Rule } from '../../src/routing/rules.ts';
import { validateRouterConfig, validateRouterConfigs } from '../../src/routing/rules-validate.ts';
import { classify, type TaskClassifier, type Task } from '../../src/routing/classifier.ts';
import { complexity } from '../../src/routing/complexity.ts';
import { estimateTokens } from '../../src/routing/tokens.ts';
import { clusterOfRouter } from '../../src/routing/rules.ts';
import { Router } from '../../src/routing/router.ts';
import { loadProfile } from '../../src/routing/profile.ts';
import { loadNativeTables, NativeEmbedder } from '../../src/routing/embedders/native.ts';
import { DEFAULT_PROFILE_DIR } from '../../src/fit/options.ts';

const cfg = (rules: Rule[], extra: Partial<RouterConfig> = {}): RouterConfig => ({ name: 'test', default_model: 'default', rules, ...extra });
const rule = (priority: number, condition: Condition, model: string, name?: string): Rule => ({ priority, condition, model, ...(name ? { name } : {}) });
const always = { type: 'always' } as const;

/** A classifier that always answers `task` and counts its calls. */
function fixedClassifier(task: Task): TaskClassifier & { calls: number } {
  const c = { id: 'fixed', calls: 0, classify(text: string) { c.calls++; return { ...classify(text), task }; } };
  return c;
}

describe('rule evaluation', () => {
  it('tries the highest priority first, whatever the list order', () => {
    const c = compileConfig(cfg([rule(1, always, 'low'), rule(10, always, 'high'), rule(5, always, 'mid')]));
    const d = c.evaluate('anything');
    assert.equal(d.model, 'high');
    assert.deepEqual(d.matchedRule, { index: 1, name: null, priority: 10, type: 'always' });
  });

  it('breaks priority ties by list order', () => {
    const c = compileConfig(cfg([rule(3, always, 'first', 'a'), rule(3, always, 'second', 'b'), rule(1, always, 'third')]));
    assert.equal(c.evaluate('x').model, 'first');
    assert.equal(c.evaluate('x').matchedRule?.name, 'a');
    const c2 = compileConfig(cfg([rule(3, { type: 'keyword', keywords: ['nope'] }, 'first'), rule(3, always, 'second')]));
    assert.equal(c2.evaluate('x').model, 'second');
  });

  it('answers default_model with matchedRule null when nothing matches (and with no rules)', () => {
    const c = compileConfig(cfg([rule(1, { type: 'keyword', keywords: ['refund'] }, 'kw')], { version: 7, name: 'prod' }));
    const d = c.evaluate('hello');
    assert.equal(d.model, 'default');
    assert.equal(d.matchedRule, null);
    assert.equal(d.configName, 'prod');
    assert.equal(d.version, 7);
    assert.equal(compileConfig(cfg([])).evaluate('x').model, 'default');
    assert.equal(compileConfig(cfg([])).evaluate('x').version, null);
  });

  it('complexity: each operator against the computed score', () => {
    const text = 'Explain the tradeoffs of Raft versus Paxos, then write the code.';
    const v = complexity(text);
    const m = (operator: 'gt' | 'gte' | 'lt' | 'lte', value: number) => compileConfig(cfg([rule(1, { type: 'complexity', operator, value }, 'hit')])).evaluate(text);
    assert.equal(m('gt', v).model, 'default');
    assert.equal(m('gte', v).model, 'hit');
    assert.equal(m('lt', v).model, 'default');
    assert.equal(m('lte', v).model, 'hit');
    assert.equal(m('gt', 0).model, 'hit');
    assert.equal(m('lt', 1).model, 'hit');
    assert.equal(m('gt', 0).signals.complexity, v);
  });

  it('token_count: each operator against the estimate, and a given count wins over the estimate', () => {
    const text = 'one two three four five six seven eight nine ten';
    const n = estimateTokens(text);
    const c = (operator: 'gt' | 'gte' | 'lt' | 'lte', value: number) => compileConfig(cfg([rule(1, { type: 'token_count', operator, value }, 'hit')]));
    assert.equal(c('gt', n).evaluate(text).model, 'default');
    assert.equal(c('gte', n).evaluate(text).model, 'hit');
    assert.equal(c('lt', n).evaluate(text).model, 'default');
    assert.equal(c('lte', n).evaluate(text).model, 'hit');
    assert.equal(c('gt', 2000).evaluate(text, { given: { tokens: 2001 } }).model, 'hit');
    assert.equal(c('gt', 2000).evaluate(text, { given: { tokens: 2001 } }).signals.tokens, 2001);
  });

  it('keyword: any / all, case, whole words, phrases and symbols', () => {
    const kw = (k: Omit<Extract<Condition, { type: 'keyword' }>, 'type'>) => compileConfig(cfg([rule(1, { type: 'keyword', ...k }, 'hit')]));
    assert.equal(kw({ keywords: ['refund', 'invoice'] }).evaluate('Where is my INVOICE?').model, 'hit');
    assert.equal(kw({ keywords: ['refund', 'invoice'], match: 'all' }).evaluate('Where is my invoice?').model, 'default');
    assert.equal(kw({ keywords: ['refund', 'invoice'], match: 'all' }).evaluate('Refund the invoice').model, 'hit');
    assert.equal(kw({ keywords: ['Invoice'], case_sensitive: true }).evaluate('my invoice').model, 'default');
    assert.equal(kw({ keywords: ['Invoice'], case_sensitive: true }).evaluate('my Invoice').model, 'hit');
    assert.equal(kw({ keywords: ['cat'] }).evaluate('concatenate these').model, 'default');
    assert.equal(kw({ keywords: ['cat'], whole_word: false }).evaluate('concatenate these').model, 'hit');
    assert.equal(kw({ keywords: ['cat'] }).evaluate('the cat, sat').model, 'hit');
    assert.equal(kw({ keywords: ['refund policy'] }).evaluate('What is your refund   policy?').model, 'default');
    assert.equal(kw({ keywords: ['refund policy'] }).evaluate('What is your Refund Policy?').model, 'hit');
    assert.equal(kw({ keywords: ['c++'] }).evaluate('I write C++ daily').model, 'hit');
    assert.equal(kw({ keywords: ['c++'] }).evaluate('I write c daily').model, 'default');
    assert.equal(kw({ keywords: ['a.b', '(x)', 'ci/cd', 'x-y'] }).evaluate('axb').model, 'default');
    assert.equal(kw({ keywords: ['ci/cd'] }).evaluate('our CI/CD pipeline').model, 'hit');
    assert.equal(kw({ keywords: ['x-y'] }).evaluate('the x-y plot').model, 'hit');
    assert.equal(kw({ keywords: ['café'] }).evaluate('CAFÉ au lait').model, 'hit');
    assert.equal(kw({ keywords: ['café'] }).evaluate('cafés').model, 'default');
  });

  it('always matches', () => {
    assert.equal(compileConfig(cfg([rule(0, always, 'hit')])).evaluate('').model, 'hit');
  });

  it('task: matches the classifier\'s task; the classifier is pluggable', () => {
    const c = compileConfig(cfg([rule(1, { type: 'task', tasks: ['math', 'code'] }, 'hit')]));
    assert.equal(c.evaluate('What is 48 * 37?').model, 'hit');
    assert.equal(c.evaluate('Write a haiku about autumn rain.').model, 'default');
    assert.equal(c.evaluate('What is 48 * 37?').signals.task?.task, 'math');
    const fixed = fixedClassifier('creative');
    const c2 = compileConfig(cfg([rule(1, { type: 'task', tasks: ['creative'] }, 'hit')]), { classifier: fixed });
    assert.equal(c2.evaluate('What is 48 * 37?').model, 'hit');
    assert.equal(fixed.calls, 1);
  });

  it('cluster: matches the profile cluster from clusterOf; compiling one without clusterOf fails', () => {
    const calls: string[] = [];
    const clusterOf = (t: string) => { calls.push(t); return t.length; };
    const c = compileConfig(cfg([rule(1, { type: 'cluster', clusters: [3, 5] }, 'hit')]), { clusterOf });
    assert.equal(c.evaluate('abc').model, 'hit');
    assert.equal(c.evaluate('abcd').model, 'default');
    assert.equal(c.evaluate('abcd').signals.cluster, 4);
    assert.equal(c.evaluate('abcd', { given: { cluster: 5 } }).model, 'hit');
    assert.equal(calls.length, 3, 'a given cluster is not recomputed');
    assert.throws(() => compileConfig(cfg([rule(1, { type: 'cluster', clusters: [1] }, 'hit')])), RuleCompileError);
  });

  it('computes no signal that no rule needs', () => {
    const fixed = fixedClassifier('math');
    let clusters = 0;
    const sources = { classifier: fixed, clusterOf: () => { clusters++; return 0; } };
    const kwOnly = compileConfig(cfg([rule(1, { type: 'keyword', keywords: ['x'] }, 'a'), rule(0, always, 'b')]), sources);
    assert.deepEqual([...kwOnly.needs], []);
    assert.deepEqual(kwOnly.evaluate('no match here').signals, {});
    assert.equal(fixed.calls, 0);
    assert.equal(clusters, 0);
  });

  it('computes a signal only when a rule that needs it is tried, and once per evaluation', () => {
    const fixed = fixedClassifier('math');
    let clusters = 0;
    const sources = { classifier: fixed, clusterOf: () => { clusters++; return 0; } };
    const c = compileConfig(cfg([
      rule(10, { type: 'keyword', keywords: ['urgent'] }, 'kw'),
      rule(5, { type: 'task', tasks: ['code'] }, 'code'),
      rule(4, { type: 'task', tasks: ['reasoning'] }, 'reasoning'),
      rule(3, { type: 'complexity', operator: 'gt', value: 0 }, 'complex'),
      rule(1, { type: 'cluster', clusters: [0] }, 'cluster'),
    ]), sources);
    assert.deepEqual([...c.needs].sort(), ['cluster', 'complexity', 'task']);
    const early = c.evaluate('urgent: hi');
    assert.equal(early.model, 'kw');
    assert.deepEqual(early.signals, {}, 'the keyword rule matched before any signal rule was tried');
    assert.equal(fixed.calls, 0);
    const mid = c.evaluate('explain the gradient');
    assert.equal(mid.model, 'complex');
    assert.equal(fixed.calls, 1, 'two task rules, one classification');
    assert.ok(mid.signals.complexity! > 0);
    assert.equal(mid.signals.tokens, undefined);
    assert.equal(mid.signals.cluster, undefined);
    assert.equal(clusters, 0);
  });

  it('clusterOfRouter gives the cluster Router.route reports, so cluster rules follow the shipped profile', () => {
    const embedder = new NativeEmbedder(loadNativeTables(DEFAULT_PROFILE_DIR));
    const router = new Router(loadProfile(DEFAULT_PROFILE_DIR, embedder));
    const clusterOf = clusterOfRouter(router, embedder);
    const texts = ['Write a Python function that reverses a string.', 'Which gas do plants absorb?\nA) oxygen\nB) carbon dioxide', 'hi'];
    const ids = texts.map((t) => router.route(embedder.embedSync(t)).clusterId);
    assert.deepEqual(texts.map(clusterOf), ids);
    const c = compileConfig(cfg([rule(1, { type: 'cluster', clusters: [ids[0]] }, 'coder')]), { clusterOf });
    assert.equal(c.evaluate(texts[0]).model, 'coder');
  });

  it('want computes a signal no rule needs; given is used instead of computing', () => {
    const c = compileConfig(cfg([rule(1, { type: 'keyword', keywords: ['x'] }, 'a')]));
    const d = c.evaluate('hello world', { want: ['complexity', 'tokens'] });
    assert.equal(d.signals.complexity, complexity('hello world'));
    assert.equal(d.signals.tokens, estimateTokens('hello world'));
    assert.equal(d.signals.task, undefined);
    const g = compileConfig(cfg([rule(1, { type: 'complexity', operator: 'gt', value: 0.9 }, 'big')])).evaluate('hi', { given: { complexity: 0.95 } });
    assert.equal(g.model, 'big');
  });
});

describe('router config validation', () => {
  const known = new Set(['gpt-4o', 'gpt-4o-mini']);
  const valid: RouterConfig = {
    name: 'production-router', default_model: 'gpt-4o-mini', candidates: ['gpt-4o', 'gpt-4o-mini'], cost_weight: 0.2,
    rules: [
      rule(10, { type: 'complexity', operator: 'gt', value: 0.7 }, 'gpt-4o', 'hard'),
      rule(5, { type: 'token_count', operator: 'gte', value: 2000 }, 'gpt-4o'),
      rule(3, { type: 'keyword', keywords: ['code'], match: 'any', case_sensitive: false, whole_word: true }, 'gpt-4o'),
      rule(2, { type: 'task', tasks: ['math'] }, 'gpt-4o'),
      rule(1, { type: 'cluster', clusters: [0, 99] }, 'gpt-4o'),
      rule(0, always, 'gpt-4o-mini'),
    ],
  };
  const fields = (errs: { field: string }[]) => errs.map((e) => e.field);
  const withRule = (i: number, r: unknown) => ({ ...valid, rules: valid.rules.map((x, j) => (j === i ? r : x)) });

  it('accepts a valid config with every condition type', () => {
    assert.deepEqual(validateRouterConfig(valid, { knownModels: known, clusterCount: 100 }), []);
    assert.deepEqual(validateRouterConfig({ ...valid, id: '2f1c7a52-4f5e-4a55-9c1e-0d3c7e1f2a3b', version: 4 }), []);
  });

  it('unknown model, in default_model, candidates and rules', () => {
    const errs = validateRouterConfig({ ...valid, default_model: 'nope', candidates: ['gpt-4o', 'x'], rules: [rule(1, always, 'y')] }, { knownModels: known });
    assert.deepEqual(errs, [
      { field: 'default_model', message: 'unknown model "nope"' },
      { field: 'candidates[1]', message: 'unknown model "x"' },
      { field: 'rules[0].model', message: 'unknown model "y"' },
    ]);
  });

  it('bad operator and values out of range', () => {
    assert.deepEqual(fields(validateRouterConfig(withRule(0, rule(1, { type: 'complexity', operator: 'ge' as 'gt', value: 0.5 }, 'gpt-4o')))), ['rules[0].condition.operator']);
    assert.match(validateRouterConfig(withRule(0, rule(1, { type: 'complexity', operator: 'ge' as 'gt', value: 0.5 }, 'gpt-4o')))[0].message, /must be one of "gt", "gte", "lt", "lte"/);
    assert.deepEqual(fields(validateRouterConfig(withRule(0, rule(1, { type: 'complexity', operator: 'gt', value: 1.5 }, 'gpt-4o')))), ['rules[0].condition.value']);
    assert.deepEqual(fields(validateRouterConfig(withRule(1, rule(1, { type: 'token_count', operator: 'gt', value: -1 }, 'gpt-4o')))), ['rules[1].condition.value']);
    assert.deepEqual(fields(validateRouterConfig(withRule(2, rule(1, { type: 'complexity', operator: 'gt', value: '0.5' as unknown as number }, 'gpt-4o')))), ['rules[2].condition.value']);
    assert.deepEqual(fields(validateRouterConfig({ ...valid, cost_weight: -1 })), ['cost_weight']);
    assert.deepEqual(fields(validateRouterConfig(withRule(4, rule(1, { type: 'cluster', clusters: [100] }, 'gpt-4o')), { clusterCount: 100 })), ['rules[4].condition.clusters[0]']);
    assert.deepEqual(fields(validateRouterConfig(withRule(3, rule(1, { type: 'task', tasks: ['poetry' as Task] }, 'gpt-4o')))), ['rules[3].condition.tasks[0]']);
    assert.deepEqual(fields(validateRouterConfig(withRule(2, rule(1, { type: 'keyword', keywords: [] }, 'gpt-4o')))), ['rules[2].condition.keywords']);
    assert.deepEqual(fields(validateRouterConfig(withRule(2, rule(1, { type: 'keyword', keywords: ['a'], match: 'some' as 'any' }, 'gpt-4o')))), ['rules[2].condition.match']);
    assert.deepEqual(fields(validateRouterConfig(withRule(0, { priority: 1.5, condition: always, model: 'gpt-4o' }))), ['rules[0].priority']);
  });

  it('unknown condition type, missing and unknown fields', () => {
    assert.deepEqual(validateRouterConfig(withRule(0, { priority: 1, condition: { type: 'regex' }, model: 'gpt-4o' })),
      [{ field: 'rules[0].condition.type', message: 'must be one of "complexity", "token_count", "keyword", "always", "task", "cluster"' }]);
    assert.deepEqual(validateRouterConfig(withRule(0, { priority: 1, condition: { type: 'always', value: 1 }, model: 'gpt-4o' })), [{ field: 'rules[0].condition.value', message: 'unknown field' }]);
    assert.deepEqual(validateRouterConfig(withRule(0, { priority: 1, condition: always, model: 'gpt-4o', weight: 2 })), [{ field: 'rules[0].weight', message: 'unknown field' }]);
    assert.deepEqual(validateRouterConfig({ ...valid, fallback: 'x' }), [{ field: 'fallback', message: 'unknown field' }]);
    assert.deepEqual(validateRouterConfig(withRule(0, { priority: 1, condition: { type: 'complexity', value: 0.5 }, model: 'gpt-4o' })), [{ field: 'rules[0].condition.operator', message: 'is required' }]);
    assert.deepEqual(fields(validateRouterConfig({ name: 'x', rules: [] })), ['default_model']);
    assert.deepEqual(validateRouterConfig(null), [{ field: '(root)', message: 'must be object' }]);
  });

  it('names: pattern, not a UUID, no duplicate among configs', () => {
    assert.deepEqual(fields(validateRouterConfig({ ...valid, name: 'has space' })), ['name']);
    assert.deepEqual(fields(validateRouterConfig({ ...valid, name: '2f1c7a52-4f5e-4a55-9c1e-0d3c7e1f2a3b' })), ['name']);
    assert.deepEqual(validateRouterConfig(valid, { otherNames: new Set(['production-router']) }), [{ field: 'name', message: 'duplicates the name of another config ("production-router")' }]);
    assert.deepEqual(validateRouterConfigs([valid, { ...valid, name: 'other' }, valid], { at: 'routing.configs' }),
      [{ field: 'routing.configs[2].name', message: 'duplicates the name of routing.configs[0] ("production-router")' }]);
    assert.deepEqual(fields(validateRouterConfigs([{ ...valid, rules: [{ priority: 1 }] }], { at: 'routing.configs' })), ['routing.configs[0].rules[0].condition', 'routing.configs[0].rules[0].model']);
  });

  it('a validated config compiles and evaluates', () => {
    const c = compileConfig(valid, { clusterOf: () => 7 });
    assert.equal(c.evaluate('please review this code').model, 'gpt-4o');
    assert.equal(c.evaluate('hi').model, 'gpt-4o-mini');
  });
});
