/**
 * The one place that picks the tfjs backend. "Which device" (the names users pass) is kept apart
 * from "which package" (how each is loaded):
 *
 *   gpu  -> @tensorflow/tfjs-node-gpu (optional; needs CUDA 11.2 + cuDNN 8.1), tfjs backend 'tensorflow'
 *   node -> @tensorflow/tfjs-node (optional), tfjs backend 'tensorflow'
 *   wasm -> @fidlab/tfjs-cpu's setupFastCpu() (the wasm backend plus our gradient kernels)
 *   cpu  -> tfjs's pure-JS backend (always there; slow, exact, what tests pin)
 *
 * `auto` tries them in that order. The optional packages are loaded by a dynamic import that
 * tolerates their absence, so a missing one never breaks install or tests.
 */
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { ErrorCode, FidlabError } from '@fidlab/base';

export const BACKEND_NAMES = ['auto', 'gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

type Loader = () => Promise<string>; // returns the tfjs backend name now active

async function importOptional(pkg: string): Promise<unknown> {
  // A variable specifier keeps bundlers and tsc from resolving the optional package.
  const spec = pkg;
  try {
    return await import(spec);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(`${pkg} is not installed`, { cause: e });
    }
    throw e;
  }
}

/** A GPU device node is visible (Linux); tfjs-node-gpu would otherwise fall back silently. */
const gpuVisible = () =>
  process.env.CUDA_VISIBLE_DEVICES !== '-1' &&
  (existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0'));

const LOADERS: Record<Exclude<BackendName, 'auto'>, Loader> = {
  async gpu() {
    if (!gpuVisible()) throw new Error('no NVIDIA GPU visible (/dev/nvidia0)');
    await importOptional('@tensorflow/tfjs-node-gpu');
    if (!(await tf.setBackend('tensorflow'))) throw new Error("backend 'tensorflow' did not start");
    return 'tensorflow';
  },
  async node() {
    await importOptional('@tensorflow/tfjs-node');
    if (!(await tf.setBackend('tensorflow'))) throw new Error("backend 'tensorflow' did not start");
    return 'tensorflow';
  },
  async wasm() {
    const mod = (await importOptional('@fidlab/tfjs-cpu')) as {
      setupFastCpu?: () => Promise<void>;
    };
    if (typeof mod.setupFastCpu !== 'function') {
      throw new Error('@fidlab/tfjs-cpu has no setupFastCpu yet');
    }
    await mod.setupFastCpu();
    return tf.getBackend();
  },
  async cpu() {
    if (!(await tf.setBackend('cpu'))) throw new Error("backend 'cpu' did not start");
    return 'cpu';
  },
};

let chosen: { request: string; backend: string } | null = null;

/**
 * Picks and activates the tfjs backend: tfjs-node-gpu (if installed + GPU) > tfjs-node (if
 * installed) > fast CPU (setupFastCpu) > 'cpu'. `opts.backend` or FIDLAB_BACKEND overrides (an
 * explicit choice that cannot load is an error). Logs the choice once; returns the tfjs backend
 * name ('tensorflow', 'wasm' or 'cpu').
 */
export async function selectBackend(
  opts: { backend?: string; log?: (line: string) => void } = {},
): Promise<string> {
  const request = (opts.backend ?? process.env.FIDLAB_BACKEND ?? 'auto').trim() || 'auto';
  if (!(BACKEND_NAMES as readonly string[]).includes(request)) {
    throw new FidlabError(
      ErrorCode.INVALID_CONFIG,
      `unknown backend '${request}' (backends: ${BACKEND_NAMES.join(', ')})`,
    );
  }
  if (chosen && chosen.request === request && tf.getBackend() === chosen.backend) {
    return chosen.backend;
  }
  // tfjs's "install tfjs-node" banner: the log line below says what was chosen and why.
  tf.env().set('PROD', true);
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const order =
    request === 'auto'
      ? (['gpu', 'node', 'wasm', 'cpu'] as const)
      : [request as Exclude<BackendName, 'auto'>];
  const skipped: string[] = [];
  for (const name of order) {
    try {
      const backend = await LOADERS[name]();
      chosen = { request, backend };
      log(
        `fidlab: tfjs backend '${backend}' (${name}${request === 'auto' ? ', auto' : ''})` +
          (skipped.length ? `; skipped: ${skipped.join('; ')}` : ''),
      );
      return backend;
    } catch (e) {
      const reason = (e as Error).message.split('\n')[0];
      if (request !== 'auto') {
        throw new FidlabError(
          ErrorCode.INVALID_CONFIG,
          `backend '${name}' is not available: ${reason}`,
          { cause: e },
        );
      }
      skipped.push(`${name}: ${reason}`);
    }
  }
  throw new FidlabError(
    ErrorCode.INVALID_CONFIG,
    `no tfjs backend could start (${skipped.join('; ')})`,
  );
}
