import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileSelection, lastQuestion, validateSelection } from '../../src/routing/text-select.ts';
import { DEFAULT_NATIVE_PARAMS, fitNativeTables, loadNativeTables, NativeEmbedder, saveNativeEmbedder } from '../../src/routing/embedders/native.ts';

const FEW_SHOT = `Please answer with the letter of the correct answer.

Ian ate the soup because _ was hungry.
A) Ian
B) Dennis
Answer:
A

Please answer with the letter of the correct answer.

Kyle wears leg warmers because _ is cold.
A) Kyle
B) Logan
Answer:
A

Amy calmed Samantha because _ was placid.
A) Samantha
B) Amy
Answer:`;

describe('text selection: last_question', () => {
  const sel = compileSelection(lastQuestion(undefined, 40));

  it('keeps the last blank-line block of a few-shot prompt', () => {
    assert.equal(sel(FEW_SHOT), 'Amy calmed Samantha because _ was placid.\nA) Samantha\nB) Amy\nAnswer:');
  });

  it('prepends earlier blocks until min_chars, so a short closing line keeps its question', () => {
    const t = 'Intro.\n\nWhat is the capital of France, and why did it become the capital?\n\nAnswer:';
    assert.equal(sel(t), 'What is the capital of France, and why did it become the capital?\n\nAnswer:');
    assert.equal(compileSelection(lastQuestion(undefined, 0))(t), 'Answer:');
    assert.equal(compileSelection(lastQuestion(undefined, 10_000))(t), 'Intro.\n\nWhat is the capital of France, and why did it become the capital?\n\nAnswer:');
    // the default (400) keeps the worked examples before a short question: this prompt is shorter, so all of it
    assert.equal(compileSelection(lastQuestion())(FEW_SHOT), FEW_SHOT);
    const blocks = ['a', 'b', 'c', 'd', 'e'].map((x) => x.repeat(150));
    assert.equal(compileSelection(lastQuestion())(blocks.join('\n\n')), blocks.slice(2).join('\n\n'));
  });

  it('uses the whole text when there is no separator, and ignores trailing blank blocks', () => {
    assert.equal(sel('Write a function that adds two numbers.'), 'Write a function that adds two numbers.');
    assert.equal(sel('first block of text here\n\nsecond block, the real question, long enough\n\n   \n'), 'second block, the real question, long enough');
    assert.equal(sel(''), '');
  });

  it('takes a configurable separator (a RegExp source)', () => {
    const s = compileSelection({ mode: 'last_question', separator: '\\n###\\n', min_chars: 0 });
    assert.equal(s('example one\n###\nexample two\n###\nthe question'), 'the question');
    assert.equal(s('a\n\nb'), 'a\n\nb');
  });

  it('full is the identity; malformed selections are refused naming the field', () => {
    assert.equal(compileSelection({ mode: 'full' })(FEW_SHOT), FEW_SHOT);
    assert.equal(compileSelection(undefined)(FEW_SHOT), FEW_SHOT);
    assert.throws(() => validateSelection({ mode: 'first' }, 'x'), /"select.mode" must be "full" or "last_question"/);
    assert.throws(() => validateSelection({ mode: 'last_question', separator: '(', min_chars: 1 }, 'x'), /"select.separator" is not a valid RegExp/);
    assert.throws(() => validateSelection({ mode: 'last_question', separator: '\\n', min_chars: -1 }, 'x'), /"select.min_chars"/);
  });
});

describe('the native embedder applies the selection it was fitted with', () => {
  const corpus = [FEW_SHOT, 'Write a python function to reverse a list.', 'What is 2 + 2?\n\nAnswer:', 'Amy calmed Samantha because _ was placid.'];

  it('embeds a few-shot prompt as its last question; a full embedder does not', () => {
    const withSel = new NativeEmbedder(fitNativeTables(corpus, { ...DEFAULT_NATIVE_PARAMS, select: lastQuestion(undefined, 40) }));
    const tail = 'Amy calmed Samantha because _ was placid.\nA) Samantha\nB) Amy\nAnswer:';
    assert.deepEqual(withSel.embedSync(FEW_SHOT), withSel.embedSync(tail));
    const full = new NativeEmbedder(fitNativeTables(corpus));
    assert.notDeepEqual(full.embedSync(FEW_SHOT), full.embedSync(tail));
  });

  it('the selection is part of the hash (a profile fitted with one refuses the other); full keeps the old hash', () => {
    const a = new NativeEmbedder(fitNativeTables(corpus));
    const b = new NativeEmbedder(fitNativeTables(corpus, { ...DEFAULT_NATIVE_PARAMS, select: { mode: 'full' } }));
    const c = new NativeEmbedder(fitNativeTables(corpus, { ...DEFAULT_NATIVE_PARAMS, select: lastQuestion() }));
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.hash, c.hash);
  });

  it('round-trips through embedder.json and refuses a malformed select there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sel-emb-'));
    try {
      const t = fitNativeTables(corpus, { ...DEFAULT_NATIVE_PARAMS, select: lastQuestion('\\n\\n', 5) });
      saveNativeEmbedder(dir, t);
      const back = loadNativeTables(dir);
      assert.deepEqual(back.params.select, { mode: 'last_question', separator: '\\n\\n', min_chars: 5 });
      assert.equal(new NativeEmbedder(back).hash, new NativeEmbedder(t).hash);
      const m = JSON.parse(readFileSync(join(dir, 'embedder.json'), 'utf8'));
      m.params.select.mode = 'middle';
      writeFileSync(join(dir, 'embedder.json'), JSON.stringify(m));
      assert.throws(() => loadNativeTables(dir), /"select.mode" must be/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
