// What every part of the store works with: the Prisma client and the change notifier. A new
// concern of the store is a file of functions taking a StoreContext, and one-line methods on Store.
import type { PrismaClient } from './generated/prisma/client.js';

/** What changed, for progress subscribers in this process. */
export interface StoreChange {
  sweepId?: number;
  runId?: number;
  kind: 'sweep' | 'run' | 'epoch' | 'metrics';
}

export interface StoreContext {
  readonly prisma: PrismaClient;
  /** Tells this process's subscribers (Store.events 'change') about a write. */
  changed(c: StoreChange): void;
  /** A claim is live while its worker's heartbeat is at most this old (ms); see claims.ts. */
  readonly claimLiveMs?: number;
}
