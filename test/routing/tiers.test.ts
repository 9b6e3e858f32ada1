import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  blendedPrice, tierOf, priceTierOf, modelTiers, validateThresholds, DEFAULT_TIER_THRESHOLDS, DEFAULT_PRICE_TIER_THRESHOLDS,
  TIER_THRESHOLD_KEYS, PRICE_TIER_THRESHOLD_KEYS,
} from '../../src/routing/tiers.ts';

const p = (input: number, output: number) => ({ prompt_per_1m: input, completion_per_1m: output });

describe('price tiers', () => {
  it('blends 3 input : 1 output, from either pricing shape', () => {
    assert.equal(blendedPrice(p(10, 30)), 15);
    assert.equal(blendedPrice({ input_per_1m: 1, output_per_1m: 2 }), 1.25);
    assert.ok(Number.isNaN(blendedPrice(null)));
    assert.ok(Number.isNaN(blendedPrice(p(-1, 2))));
    assert.ok(Number.isNaN(blendedPrice(p(Infinity, 2))));
    assert.ok(Number.isNaN(blendedPrice({ prompt_per_1m: '1' as unknown as number, completion_per_1m: 2 })));
  });

  it('economy / standard / premium with inclusive upper bounds 1 and 5', () => {
    assert.deepEqual(DEFAULT_TIER_THRESHOLDS, { economy: 1, standard: 5 });
    assert.equal(tierOf(p(0.15, 0.6)), 'economy');
    assert.equal(tierOf(p(1, 1)), 'economy');
    assert.equal(tierOf(p(1, 2)), 'standard');
    assert.equal(tierOf(p(5, 5)), 'standard');
    assert.equal(tierOf(p(3, 15)), 'premium');
    assert.equal(tierOf(null), null);
    assert.equal(tierOf(p(3, 15), { economy: 10, standard: 20 }), 'economy');
  });

  it('price_tier: economy / standard / balanced / premium / flagship at 0.5, 2, 5, 15', () => {
    assert.deepEqual(DEFAULT_PRICE_TIER_THRESHOLDS, { economy: 0.5, standard: 2, balanced: 5, premium: 15 });
    assert.equal(priceTierOf(p(0.15, 0.6)), 'economy');
    assert.equal(priceTierOf(p(0.6, 0.6)), 'standard');
    assert.equal(priceTierOf(p(2.5, 10)), 'balanced');
    assert.equal(priceTierOf(p(3, 15)), 'premium');
    assert.equal(priceTierOf(p(10, 30)), 'premium');
    assert.equal(priceTierOf(p(15, 75)), 'flagship');
    assert.equal(priceTierOf(undefined), null);
  });

  it('modelTiers maps names, null without pricing', () => {
    const m = modelTiers([{ name: 'a', pricing: p(10, 30) }, { name: 'b', pricing: null }, { name: 'c' }]);
    assert.deepEqual([...m], [['a', 'premium'], ['b', null], ['c', null]]);
  });

  it('validateThresholds names the field: unknown key, not a number, not ascending', () => {
    assert.deepEqual(validateThresholds({ economy: 1, standard: 5 }, TIER_THRESHOLD_KEYS, 'routing.tiers'), []);
    assert.deepEqual(validateThresholds({ economy: 1, standard: 5, premium: 9 }, TIER_THRESHOLD_KEYS, 'routing.tiers'), ['routing.tiers.premium: unknown field (expected economy, standard)']);
    assert.deepEqual(validateThresholds({ economy: 5, standard: 1 }, TIER_THRESHOLD_KEYS, 't'), ['t.standard: must be greater than t.economy (5)']);
    assert.deepEqual(validateThresholds({ economy: -1, standard: 1 }, TIER_THRESHOLD_KEYS, 't'), ['t.economy: must be a finite number >= 0 (blended USD per 1M tokens)']);
    assert.match(validateThresholds({ economy: 0.5, standard: 2, balanced: 5 }, PRICE_TIER_THRESHOLD_KEYS, 'p')[0], /^p\.premium: must be a finite number/);
    assert.deepEqual(validateThresholds([], TIER_THRESHOLD_KEYS, 't'), ['t: must be an object with keys economy, standard']);
  });
});
