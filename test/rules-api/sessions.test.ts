/**
 * Sessions of POST /v1/model-router/invoke: the messages of a session_id are
 * stored and prepended to its next call (the echo upstream shows what it
 * received), bounded by routing.sessions.token_budget (newest whole messages
 * first), kept apart per session, and two concurrent calls of one session
 * both keep their turn.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { estimateTokens } from '../../src/routing/tokens.ts';
import { echoModels, invoke, startEcho, startRig, user, type Echo, type Rig } from './helpers.ts';

let echo: Echo;
let rig: Rig;
const BUDGET = 120;
before(async () => {
  echo = await startEcho();
  rig = await startRig(echoModels(echo), { routing: { sessions: { token_budget: BUDGET, max_messages: 50 } } });
});
after(async () => { await rig.close(); await echo.close(); });

/** What the upstream received on the last call. */
const lastSent = () => echo.requests.at(-1).messages as { role: string; content: string }[];

describe('sessions', () => {
  it('the second call of a session gets the first turn (user + assistant) prepended', async () => {
    const s = randomUUID();
    const a = await invoke(rig.base, { messages: user('my name is Ada'), session_id: s });
    assert.equal(a.status, 200, a.text);
    assert.equal(lastSent().length, 1);
    const b = await invoke(rig.base, { messages: user('what is my name?'), session_id: s });
    assert.equal(b.status, 200, b.text);
    const sent = lastSent();
    assert.deepEqual(sent.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.equal(sent[0].content, 'my name is Ada');
    assert.equal(sent[1].content, a.json.content);
    assert.equal(sent[2].content, 'what is my name?');
  });

  it('another session (or none) sees none of it', async () => {
    await invoke(rig.base, { messages: user('secret one'), session_id: randomUUID() });
    await invoke(rig.base, { messages: user('hello'), session_id: randomUUID() });
    assert.equal(lastSent().length, 1);
    await invoke(rig.base, { messages: user('hello') });
    assert.equal(lastSent().length, 1);
  });

  it('the history is the newest whole messages within the token budget, in order', async () => {
    const s = randomUUID();
    const all: string[] = [];
    echo.short = true; // answers that do not grow with the history
    try {
      for (let i = 0; i < 6; i++) {
        const text = `turn ${i}: ${'lorem ipsum dolor sit amet '.repeat(3)}`;
        const r = await invoke(rig.base, { messages: user(text), session_id: s });
        assert.equal(r.status, 200, r.text);
        all.push(text, r.json.content);
      }
      await invoke(rig.base, { messages: user('last'), session_id: s });
    } finally { echo.short = false; }
    const history = lastSent().slice(0, -1).map((m) => m.content);
    assert.ok(history.length > 0 && history.length < all.length, `history of ${history.length} of ${all.length}`);
    const tokens = history.reduce((n, c) => n + estimateTokens(c), 0);
    assert.ok(tokens <= BUDGET, `${tokens} tokens > ${BUDGET}`);
    assert.deepEqual(history, all.slice(all.length - history.length), 'a suffix of the conversation');
    // One more message would have crossed the budget.
    assert.ok(tokens + estimateTokens(all[all.length - history.length - 1]) > BUDGET);
  });

  it('two concurrent calls of one session both keep their turn', async () => {
    const s = randomUUID();
    const [a, b] = await Promise.all([invoke(rig.base, { messages: user('A'), session_id: s }), invoke(rig.base, { messages: user('B'), session_id: s })]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    await invoke(rig.base, { messages: user('C'), session_id: s });
    const contents = lastSent().map((m) => m.content);
    assert.equal(contents.length, 5);
    assert.ok(contents.includes('A') && contents.includes('B'));
    assert.equal(contents.at(-1), 'C');
  });
});
