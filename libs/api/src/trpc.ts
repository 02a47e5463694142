// tRPC setup shared by every procedure: the request context, error shaping (FidlabError codes
// become HTTP-level tRPC codes plus `data.fidlabCode`), and the two access levels.
import { initTRPC, TRPCError } from '@trpc/server';
import type { SampleSource } from './files.js';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import type { Store, WorkerRow } from '@fidlab/store';
import { z } from 'zod';

export interface Context {
  store: Store;
  /** Name of the bearer token that authenticated this request, or null. */
  tokenName: string | null;
  /** Whether the request carried a token at all (a wrong one is "invalid or revoked"). */
  tokenPresented?: boolean;
  /** Drops the server's cache of verified tokens (after a revocation: immediate). */
  forgetTokens: () => void;
  /** Reads allowed without a token (`fidlab serve --public-read`). */
  publicRead: boolean;
  /** How often a progress subscription re-reads the store (ms), for writes by other processes. */
  pollMs: number;
  /**
   * The live workers, where the server has a registry (the coordinator with --nats: the NATS KV
   * registry); else workers.list reads the store's workers table.
   */
  workers?: () => Promise<WorkerRow[]>;
  /** Where sample images kept in an artifact store are read; none: only run-directory samples. */
  samples?: SampleSource;
}

/** What a client can act on, per FidlabError code. */
const CODE_MAP: Record<string, TRPC_ERROR_CODE_KEY> = {
  INVALID_INPUT: 'BAD_REQUEST',
  INVALID_CONFIG: 'BAD_REQUEST',
  SHAPE_MISMATCH: 'BAD_REQUEST',
  NOT_FINITE: 'BAD_REQUEST',
  BAD_FILE_FORMAT: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  FILE_NOT_FOUND: 'NOT_FOUND',
  TOO_FEW_SAMPLES: 'PRECONDITION_FAILED',
  NUMERIC_FAILURE: 'UNPROCESSABLE_CONTENT',
  STALE_CLAIM: 'CONFLICT',
};

// Duck-typed rather than instanceof: source and built copies of fid-core may both be loaded.
function fidlabCode(err: unknown): string | undefined {
  if (err instanceof Error && err.name === 'FidlabError') {
    const code = (err as Error & { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

const t = initTRPC.context<Context>().create({
  // No stack traces in answers, whatever NODE_ENV says.
  isDev: false,
  errorFormatter({ shape, error }) {
    const code = fidlabCode(error.cause);
    return {
      ...shape,
      data: {
        ...shape.data,
        fidlabCode: code ?? null,
        zodIssues: error.cause instanceof z.ZodError ? error.cause.issues : null,
      },
    };
  },
});

/** Turns a FidlabError thrown by a resolver into the matching tRPC code (message kept). */
const mapErrors = t.middleware(async ({ next }) => {
  const res = await next();
  if (!res.ok) {
    const code = fidlabCode(res.error.cause);
    if (code !== undefined && res.error.code === 'INTERNAL_SERVER_ERROR') {
      throw new TRPCError({
        code: CODE_MAP[code] ?? 'INTERNAL_SERVER_ERROR',
        message: res.error.message,
        cause: res.error.cause,
      });
    }
  }
  return res;
});

export const router = t.router;
const base = t.procedure.use(mapErrors);

/** Answers anyone (only `me`: tells a page whether it must ask for a token). */
export const publicProcedure = base;

/** Reads: need a valid token unless the server allows public reads. */
export const readProcedure = base.use(({ ctx, next }) => {
  if (ctx.tokenPresented && ctx.tokenName === null) throw invalidToken();
  if (!ctx.publicRead && ctx.tokenName === null) {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message:
        'a bearer token is required (fidlab token create NAME), or start the server with --public-read',
    });
  }
  return next();
});

function invalidToken(): TRPCError {
  return new TRPCError({
    code: 'UNAUTHORIZED',
    message: 'invalid or revoked token (fidlab token list shows the active ones)',
  });
}

/** Mutations: always need a valid token. */
export const writeProcedure = base.use(({ ctx, next }) => {
  if (ctx.tokenPresented && ctx.tokenName === null) throw invalidToken();
  if (ctx.tokenName === null) {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message: 'a bearer token is required for changes (fidlab token create NAME)',
    });
  }
  return next();
});
