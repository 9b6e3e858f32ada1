/**
 * Smart routing (POST /v1/model-router/invoke, smart_routing: true) with a
 * router config whose `candidates` name models the router profile cannot
 * score: routing.extra_models or provider models outside the profile, which
 * a config may list as fallbacks for its rules. Those are left out of the
 * smart choice; they do not turn the request into a 400 naming
 * router_config_id (which the client may not even have sent: the default
 * config applies then). A client's own config_overrides.candidates naming an
 * unknown model stays a 400 naming that entry.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MID, PRODUCTION, LABELS, echoModels, invoke, startEcho, startRig, user, type Echo, type Rig } from './helpers.ts';

let echo: Echo;
let rig: Rig;
before(async () => {
  echo = await startEcho();
  rig = await startRig(echoModels(echo), {
    routing: {
      default_config: 'production-router',
      configs: [
        { ...PRODUCTION, candidates: ['gpt-4o'] },
        { ...LABELS, name: 'mixed', candidates: [MID, 'gpt-4o-mini'] },
      ],
    },
  });
});
after(async () => { await rig.close(); await echo.close(); });

const idOf = async (name: string): Promise<string> => {
  const r = await fetch(`${rig.base}/v1/router-configs/${name}`);
  return ((await r.json()) as { id: string }).id;
};

describe('smart routing with a config naming models outside the profile', () => {
  it('the default config\'s extra-model candidates do not refuse a smart call that names no config', async () => {
    const r = await invoke(rig.base, { messages: user('Explain how a hash map works.'), smart_routing: true });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.routing_metadata.candidate_chain.length > 1, 'no profile model among the config\'s candidates: no restriction');
    assert.ok(!r.json.routing_metadata.candidate_chain.includes('gpt-4o'));
  });

  it('a config mixing profile and extra models restricts to the profile ones', async () => {
    const r = await invoke(rig.base, { messages: user('Explain how a hash map works.'), smart_routing: true, router_config_id: await idOf('mixed') });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.routing_metadata.candidate_chain, [MID]);
    assert.equal(r.json.model_identifier, MID);
  });

  it('config_overrides.candidates naming a model the profile does not know is still a 400 naming it', async () => {
    const r = await invoke(rig.base, { messages: user('hi'), smart_routing: true, config_overrides: { candidates: [MID, 'gpt-4o'] } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, 'invalid_request');
    assert.match(r.json.message, /config_overrides\.candidates\[1\]/);
  });
});

describe('config_overrides model names in rule routing', () => {
  it('a default_model no one knows is a 400 naming it, not silently passed over', async () => {
    // "hi" matches no rule of production-router: the override would be the first of the chain.
    const r = await invoke(rig.base, { messages: user('hi'), config_overrides: { default_model: 'gpt-4-1106-previw', candidates: [MID] } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, 'invalid_request');
    assert.match(r.json.message, /config_overrides\.default_model/);
  });

  it('a candidate no one knows is a 400 naming its index', async () => {
    const r = await invoke(rig.base, { messages: user('hi'), config_overrides: { candidates: [MID, 'nope'] } });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.message, /config_overrides\.candidates\[1\]/);
  });

  it('known names are served; a known model without a backend (routing.extra_models) is left out of the chain', async () => {
    const r = await invoke(rig.base, { messages: user('hi'), config_overrides: { default_model: 'gpt-4o', candidates: [MID] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.model_identifier, MID);
  });
});
