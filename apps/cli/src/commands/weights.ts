import { open } from 'node:fs/promises';
import {
  WEIGHTS_SOURCES,
  fetchWeights,
  knownWeights,
  loadStateDict,
  resolveWeights,
  saveSafetensors,
  sniffFormat,
} from '@fidlab/weights';
import { parse, UsageError, type Command, type Io } from '../command.js';
import { requireInputFile, requireOutputFile } from '../paths.js';

const names = knownWeights().join('|');

const usage = `usage: fidlab weights fetch ${names} [--force]
       fidlab weights path ${names}
       fidlab weights inspect FILE [--json]
       fidlab weights convert FILE --out OUT.safetensors

fetch    downloads the published weights into the cache (FIDLAB_WEIGHTS, default
         ~/.cache/fidlab/weights) and verifies their sha256; a file already there is verified,
         not downloaded again (--force downloads anyway). Offline it says where to put a
         manual download.
${knownWeights()
  .map((n) => `           ${n.padEnd(10)} ${WEIGHTS_SOURCES[n as 'inception'].description}`)
  .join('\n')}
path     prints the cache path of the weights (verified), or how to get them
inspect  lists the tensors of a .pth (zip or legacy) or .safetensors file: name, dtype, shape
convert  rewrites a weight file as .safetensors (float32; integer tensors keep their type)`;

const MiB = 1024 * 1024;

/** Progress on stderr: one line per 10% (per 16 MiB when the size is unknown). */
function downloadProgress(io: Io, file: string): (got: number, total: number | undefined) => void {
  let last = -1;
  return (got, total) => {
    const step = total ? Math.floor((got * 10) / total) : Math.floor(got / (16 * MiB));
    if (step === last) return;
    last = step;
    const size = total
      ? `${(got / MiB).toFixed(1)}/${(total / MiB).toFixed(1)} MiB`
      : `${(got / MiB).toFixed(1)} MiB`;
    io.err(`downloading ${file}: ${total ? `${step * 10}% ` : ''}(${size})`);
  };
}

function oneName(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError(`expected one of ${names}`);
  if (!knownWeights().includes(positionals[0])) {
    throw new UsageError(`unknown weights '${positionals[0]}' (${knownWeights().join(', ')})`);
  }
  return positionals[0];
}

async function fetchCmd(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: { force: { type: 'boolean', default: false } },
  });
  const name = oneName(positionals);
  const src = WEIGHTS_SOURCES[name as 'inception'];
  const r = await fetchWeights(name, {
    force: values.force,
    onProgress: downloadProgress(io, src.file),
  });
  const what = r.downloaded ? 'downloaded' : 'already present';
  io.out(`${what}: ${r.path} (${(r.bytes / MiB).toFixed(1)} MiB, sha256 ${r.sha256})`);
  return 0;
}

async function pathCmd(argv: string[], io: Io): Promise<number> {
  const { positionals } = parse(argv, { allowPositionals: true, options: {} });
  io.out(await resolveWeights(oneName(positionals)));
  return 0;
}

async function inspectCmd(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError('expected one FILE');
  const file = positionals[0];
  requireInputFile(file, '', 'a weights file (.pth or .safetensors)');
  const sd = await loadStateDict(file);
  const fh = await open(file, 'r');
  let format: string;
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    format = sniffFormat(head.subarray(0, bytesRead), (await fh.stat()).size, file);
  } finally {
    await fh.close();
  }
  const tensors = [...sd].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
  const values_ = [...sd.values()].reduce((a, t) => a + t.data.length, 0);
  if (values.json) {
    io.out(
      JSON.stringify({ file, format, tensors: tensors.length, values: values_, entries: tensors }),
    );
    return 0;
  }
  io.out(`${file}: ${format}, ${tensors.length} tensors, ${values_} values`);
  const width = Math.max(...tensors.map((t) => t.name.length), 4);
  for (const t of tensors)
    io.out(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(8)}  [${t.shape.join(', ')}]`);
  return 0;
}

async function convertCmd(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    allowPositionals: true,
    options: { out: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('expected one FILE');
  if (!values.out) throw new UsageError('--out OUT.safetensors is required');
  requireInputFile(positionals[0], '', 'a weights file (.pth or .safetensors)');
  requireOutputFile(values.out);
  const sd = await loadStateDict(positionals[0]);
  await saveSafetensors(values.out, sd);
  io.out(`wrote ${sd.size} tensors to ${values.out}`);
  return 0;
}

export const weightsCommand: Command = {
  name: 'weights',
  summary: `fetch published network weights (${names}) into the cache, show their path, inspect or convert a weight file`,
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    if (action === 'fetch') return fetchCmd(rest, io);
    if (action === 'path') return pathCmd(rest, io);
    if (action === 'inspect') return inspectCmd(rest, io);
    if (action === 'convert') return convertCmd(rest, io);
    throw new UsageError(
      action === undefined
        ? 'expected fetch, path, inspect or convert'
        : `unknown action '${action}' (fetch, path, inspect, convert)`,
    );
  },
};
