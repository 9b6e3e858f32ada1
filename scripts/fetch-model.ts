/**
 * Downloads a sentence-transformer ONNX export from the Hugging Face Hub for
 * the optional ONNX embedder (src/routing/embedders/onnx.ts). The default
 * native embedder needs none of this.
 *
 *   npm run fetch-model -- [--model REPO] [--out DIR] [--base-url URL] [--revision REV] [--force]
 *
 * Each file goes to DIR/<name>.part then is renamed, so an interrupted run
 * never leaves a truncated model.onnx that would later fail to load. Files
 * already present are skipped unless --force. The Hub base URL honours
 * HF_ENDPOINT (as huggingface_hub does), so a mirror works without flags.
 */
import { mkdir, open, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const DEFAULT_MODEL = 'sentence-transformers/all-MiniLM-L6-v2';
/** [path in the repo, local file name] */
const FILES: Array<[string, string]> = [
  ['onnx/model.onnx', 'model.onnx'],
  ['tokenizer.json', 'tokenizer.json'],
  ['tokenizer_config.json', 'tokenizer_config.json'],
  ['config.json', 'config.json'],
  ['special_tokens_map.json', 'special_tokens_map.json'],
];
/** Until response headers arrive: an unreachable or blackholed host fails in 20 s, not minutes. */
const CONNECT_MS = 20_000;
/** Max silence while streaming the body; a slow link is fine, a dead one is not. */
const STALL_MS = 60_000;

const USAGE = `Usage: npm run fetch-model -- [options]

Downloads an ONNX sentence-transformer (model.onnx, tokenizer.json,
tokenizer_config.json, config.json, special_tokens_map.json) for the optional
ONNX embedder. The native embedder is the default and needs no download.

Options:
  --model REPO      Hugging Face repo (default ${DEFAULT_MODEL})
  --out DIR         target directory (default native-models/<repo name>)
  --base-url URL    Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)
  --revision REV    branch, tag or commit (default main)
  --force           re-download files that already exist
  -h, --help        show this help`;

/** Failure we explain in words; anything else is a bug and keeps its stack. */
class UserError extends Error {}

function fmtMB(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** Flattens fetch's "fetch failed" TypeError into its root cause (ECONNREFUSED, ENOTFOUND, timeout...). */
function describeNetworkError(err: unknown): string {
  let e = err as { message?: string; code?: string; cause?: unknown; name?: string } | undefined;
  while (e && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  if (!e) return String(err);
  return [e.code, e.message].filter(Boolean).join(' ');
}

async function download(url: string, dest: string, label: string): Promise<number> {
  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(new Error(`no response within ${CONNECT_MS / 1000} s`)), CONNECT_MS);
  const part = `${dest}.part`;
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: ac.signal, redirect: 'follow' });
    } catch (err) {
      throw Object.assign(new UserError(describeNetworkError(err)), { unreachable: true });
    }
    if (!res.ok || !res.body) {
      throw new UserError(`${url} answered HTTP ${res.status} ${res.statusText}` +
        (res.status === 401 || res.status === 404 ? ' (wrong --model or --revision, or a gated/private repo)' : ''));
    }
    const total = Number(res.headers.get('content-length')) || 0;
    const fh = await open(part, 'w');
    let got = 0;
    let lastShown = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        clearTimeout(timer);
        timer = setTimeout(() => ac.abort(new Error(`stalled: no data for ${STALL_MS / 1000} s`)), STALL_MS);
        await fh.write(chunk);
        got += chunk.length;
        // Progress only for big files, at most once a second.
        if (total > 5e6 && Date.now() - lastShown > 1000) {
          lastShown = Date.now();
          process.stderr.write(`  ${label}: ${fmtMB(got)} / ${fmtMB(total)} (${Math.floor((100 * got) / total)}%)\r`);
        }
      }
    } catch (err) {
      throw new UserError(`download of ${url} broke off after ${fmtMB(got)}: ${describeNetworkError(ac.signal.reason ?? err)}`);
    } finally {
      await fh.close();
    }
    if (total && got !== total) throw new UserError(`${url}: got ${got} bytes, expected ${total}`);
    await rename(part, dest);
    return got;
  } finally {
    clearTimeout(timer);
    await rm(part, { force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile() && s.size > 0, () => false);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        model: { type: 'string', default: DEFAULT_MODEL },
        out: { type: 'string' },
        'base-url': { type: 'string' },
        revision: { type: 'string', default: 'main' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`fetch-model: ${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const repo = args.model!;
  const base = (args['base-url'] ?? (process.env.HF_ENDPOINT || 'https://huggingface.co')).replace(/\/+$/, '');
  const out = resolve(args.out ?? join('native-models', repo.split('/').pop()!));
  const created = await mkdir(out, { recursive: true });
  process.stderr.write(`fetch-model: ${repo}@${args.revision} from ${base} -> ${out}\n`);
  let fetched = 0;

  for (const [remote, local] of FILES) {
    const dest = join(out, local);
    if (!args.force && await exists(dest)) {
      process.stderr.write(`  ${local}: already present, skipped (--force to re-download)\n`);
      continue;
    }
    const url = `${base}/${repo}/resolve/${encodeURIComponent(args.revision!)}/${remote}`;
    try {
      const n = await download(url, dest, local);
      process.stderr.write(`  ${local}: ${fmtMB(n)}                    \n`);
      fetched++;
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      // Don't leave empty directories behind from a run that got nothing.
      if (fetched === 0 && created) {
        for (let d = out; d.startsWith(created); d = dirname(d)) if (!await rmdir(d).then(() => true, () => false)) break;
      }
      if ((err as { unreachable?: boolean }).unreachable) {
        throw new UserError(
          `could not reach ${base} while fetching ${local} (${err.message}). ` +
          `The ONNX embedder is optional: the native embedder is the default and needs no download. ` +
          `To use ${repo} anyway, fetch onnx/model.onnx (save it as model.onnx), tokenizer.json, tokenizer_config.json, ` +
          `config.json and special_tokens_map.json from ${base}/${repo}/tree/${args.revision} on a machine with access ` +
          `and copy them into ${out}/, or point HF_ENDPOINT or --base-url at a reachable mirror.`);
      }
      throw err;
    }
  }
  process.stderr.write(`fetch-model: done; load it with OnnxEmbedder.load(${JSON.stringify(out)})\n`);
}

main().catch((err) => {
  if (err instanceof UserError) {
    process.stderr.write(`\nfetch-model: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
});
