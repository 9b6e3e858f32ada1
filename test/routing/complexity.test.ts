import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { complexity, complexityFeatures, complexityTier, DEFAULT_WEIGHTS, FEATURES, normaliseWeights, PRIOR_WEIGHTS } from '../../src/routing/complexity.ts';
import { scanText } from '../../src/routing/text-scan.ts';
import { CLASSIFIER_FIXTURES } from './fixtures/classifier-prompts.ts';
import { mulberry32 } from '../../src/fit/kmeans.ts';
import { classify, isTask } from '../../src/routing/classifier.ts';
import { estimateTokens } from '../../src/routing/tokens.ts';

const LONG_TECHNICAL = 'Design a distributed database with consensus. First, explain the tradeoffs between Raft and Paxos; '
  + 'then, write the leader election code in Rust, and finally compare the latency and throughput under network partitions. '
  + 'If a node fails, how does recovery work? Which consistency model would you pick, and why?';
const ODD = ['', ' ', '\n\n\n', '😀😀😀', '我今天很忙。你呢？', '{}[];;;===', 'a'.repeat(200_000), 'word '.repeat(50_000), '1. 2. 3.'];
const feature = (text: string, name: (typeof FEATURES)[number]) => complexityFeatures(scanText(text))[FEATURES.indexOf(name)];

describe('complexity score', () => {
  it('is in [0, 1] for every fixture and odd input, and 0 for text with no words', () => {
    for (const t of [...CLASSIFIER_FIXTURES.map((f) => f.text), ...ODD, LONG_TECHNICAL]) {
      const c = complexity(t);
      assert.ok(c >= 0 && c <= 1 && Number.isFinite(c), `${JSON.stringify(t.slice(0, 40))}: ${c}`);
    }
    assert.equal(complexity(''), 0);
    assert.equal(complexity('   \n'), 0);
  });

  it('is deterministic, and one call does not leak into the next (the scan reuses module tables)', () => {
    const before = complexity(LONG_TECHNICAL);
    complexity('word '.repeat(50_000)); // fills the distinct-word table past its cap
    complexity(Array.from({ length: 3000 }, (_, i) => `w${i}`).join(' '));
    assert.equal(complexity(LONG_TECHNICAL), before);
    assert.deepEqual(scanText(LONG_TECHNICAL), scanText(LONG_TECHNICAL));
  });

  it('ranks a long multi-step technical prompt above "hi" and above a one-line question', () => {
    assert.ok(complexity(LONG_TECHNICAL) > complexity('hi') + 0.2, `${complexity(LONG_TECHNICAL)} vs ${complexity('hi')}`);
    assert.ok(complexity(LONG_TECHNICAL) > complexity('What is the capital of Australia?'));
    assert.equal(complexityTier(complexity('hi')), 'SIMPLE');
    assert.equal(complexityTier(complexity(LONG_TECHNICAL)), 'COMPLEX');
  });

  it('each feature moves with what it documents', () => {
    assert.ok(feature('word '.repeat(300), 'length') > feature('word word', 'length'));
    assert.equal(feature('x '.repeat(10_000), 'length'), 1);
    assert.ok(feature('the quick brown fox jumps over lazy dogs while seven wizards quietly hex', 'vocabulary') > feature('the the the the the the the the the the the the', 'vocabulary'));
    assert.ok(feature('Although it rained, we went out because we wanted air, unless you object.', 'structure') > feature('Go. Stop. Run.', 'structure'));
    assert.ok(feature('Explain the gradient of the regression loss and the kernel latency.', 'technical') > feature('Tell me about your weekend.', 'technical'));
    assert.ok(feature('```py\ndef f(x):\n    return {x: [x]}\n```', 'code') > 0.5);
    assert.equal(feature('Tell me about your weekend.', 'code'), 0);
    assert.ok(feature('1. Install it\n2. Configure it\n3. Then run it, and finally test it', 'multistep') > 0.8);
    assert.equal(feature('Tell me about your weekend.', 'multistep'), 0);
  });

  it('weights are non-negative and sum to 1; normaliseWeights refuses bad ones', () => {
    for (const w of [DEFAULT_WEIGHTS, PRIOR_WEIGHTS]) {
      assert.ok(FEATURES.every((k) => w[k] >= 0));
      assert.ok(Math.abs(FEATURES.reduce((s, k) => s + w[k], 0) - 1) < 1e-9);
    }
    assert.deepEqual(normaliseWeights({ length: 2, vocabulary: 0, structure: 0, technical: 0, code: 0, multistep: 2 }).length, 0.5);
    assert.throws(() => normaliseWeights({ ...PRIOR_WEIGHTS, code: -1 }), /"code" must be a finite number >= 0/);
    assert.throws(() => normaliseWeights({ length: 0, vocabulary: 0, structure: 0, technical: 0, code: 0, multistep: 0 }), /must not all be 0/);
  });

  it('complexityTier uses the documented bounds (0.2, 0.4), inclusive from below', () => {
    assert.equal(complexityTier(0.19), 'SIMPLE');
    assert.equal(complexityTier(0.2), 'MEDIUM');
    assert.equal(complexityTier(0.4), 'COMPLEX');
    assert.equal(complexityTier(0.5, { medium: 0.6, complex: 0.8 }), 'SIMPLE');
  });
});

describe('signals on random text', () => {
  it('complexity, tokens and task stay in range on seeded random strings (lone surrogates, controls, CJK, symbols)', () => {
    const r = mulberry32(99);
    const pools = [[0, 0x7f], [0x80, 0x2fff], [0x3000, 0x9fff], [0xd800, 0xdfff], [0xfe00, 0xffff]];
    for (let n = 0; n < 500; n++) {
      let t = '';
      const len = Math.floor(r() * 400);
      for (let i = 0; i < len; i++) {
        const [lo, hi] = pools[Math.floor(r() * pools.length)];
        t += String.fromCharCode(lo + Math.floor(r() * (hi - lo + 1)));
      }
      const c = complexity(t), k = estimateTokens(t), task = classify(t);
      assert.ok(c >= 0 && c <= 1, `complexity ${c}`);
      assert.ok(Number.isInteger(k) && k >= 0 && (k > 0) === (t.length > 0), `tokens ${k} for length ${t.length}`);
      assert.ok(isTask(task.task) && task.confidence > 0 && task.confidence <= 1);
    }
  });
});

describe('text scan', () => {
  it('counts sentences, list items, option lines, fences and question marks', () => {
    const s = scanText('Which one?\nA) dry\nB) wet\n(C) oil\n1. first\n2) then\n- bullet\n```js\nconst x = {a: 1};\n```\nDone. Really');
    assert.equal(s.optionLines, 3);
    assert.equal(s.listItems, 3);
    assert.equal(s.fences, 2);
    assert.equal(s.questionMarks, 1);
    assert.equal(s.sentences, 3); // "Which one?", "Done.", and the unterminated "Really"
    assert.equal(s.blockSym, 3);
  });

  it('stops counting distinct words at the cap and says how many words that covered', () => {
    const s = scanText(Array.from({ length: 3000 }, (_, i) => `w${i}`).join(' '));
    assert.equal(s.words, 3000);
    assert.equal(s.distinct, 1024);
    assert.equal(s.wordsAtCap, 1024);
    const r = scanText('a b a b c');
    assert.equal(r.distinct, 3);
    assert.equal(r.wordsAtCap, 5);
  });

  it('folds case for the lexicon and the distinct count', () => {
    const s = scanText('Python PYTHON python');
    assert.equal(s.distinct, 1);
    assert.equal(s.cat[1], 3); // CODE
  });
});
