// An in-memory Recorder with the store's fencing rules (claims bump a generation; a write under
// an older claim is refused with code STALE_CLAIM), for tests of the worker loop that do not need
// PostgreSQL. The real-server suites use @fidlab/store.
import type {
  Claim,
  EpochRecord,
  MetricRecord,
  RecordedEpoch,
  RecordedRun,
  RecordedSweep,
  Recorder,
  RunStatus,
  SweepStatus,
} from '@fidlab/experiments';

export class StaleClaimError extends Error {
  readonly code = 'STALE_CLAIM';
}

export class MemoryRecorder implements Recorder {
  sweeps = new Map<string, RecordedSweep>();
  runs = new Map<number, RecordedRun & { generation: number }>();
  epochs = new Map<string, EpochRecord & { runId: number; writes: number }>();
  metrics = new Map<string, MetricRecord & { runId: number; epoch: number }>();
  private nextId = 1;

  async upsertSweep(input: { name: string; spec: unknown; status?: SweepStatus }) {
    let s = this.sweeps.get(input.name);
    if (!s) {
      s = { id: this.nextId++, name: input.name, spec: input.spec as never, status: 'pending' };
      this.sweeps.set(input.name, s);
    }
    if (input.status) s.status = input.status;
    return { ...s };
  }
  async getSweep(name: string) {
    return this.sweeps.get(name) ?? null;
  }
  async setSweepStatus(name: string, status: SweepStatus) {
    const s = this.sweeps.get(name)!;
    s.status = status;
    return { ...s };
  }
  async upsertRun(input: {
    sweepId: number;
    key: string;
    parameters: unknown;
    runDir?: string | null;
  }) {
    for (const r of this.runs.values())
      if (r.sweepId === input.sweepId && r.key === input.key) return { ...r };
    const sweep = [...this.sweeps.values()].find((s) => s.id === input.sweepId)!;
    const r = {
      id: this.nextId++,
      sweepId: input.sweepId,
      sweep: sweep.name,
      key: input.key,
      parameters: input.parameters as never,
      status: 'pending' as RunStatus,
      attempt: 0,
      workerId: null,
      claimedBy: null as string | null,
      error: null,
      runDir: input.runDir ?? null,
      generation: 0,
    };
    this.runs.set(r.id, r);
    return { ...r };
  }
  async getRun(runId: number) {
    const r = this.runs.get(runId);
    return r ? { ...r } : null;
  }
  private fence(runId: number, claim?: Claim) {
    const r = this.runs.get(runId)!;
    if (claim && claim.generation !== r.generation)
      throw new StaleClaimError(
        `run ${runId}: claim generation ${claim.generation} is stale (now ${r.generation})`,
      );
    return r;
  }
  async setRunStatus(
    runId: number,
    status: RunStatus,
    opts: { error?: string | null; workerId?: string | null; claim?: Claim } = {},
  ) {
    const r = this.fence(runId, opts.claim);
    r.status = status;
    if (status === 'running') r.attempt++;
    r.error = status === 'failed' ? (opts.error ?? 'failed') : null;
    if (opts.workerId !== undefined) r.workerId = opts.workerId;
    return { ...r };
  }
  async runEpochs(runId: number): Promise<RecordedEpoch[]> {
    return [...this.epochs.values()]
      .filter((e) => e.runId === runId)
      .sort((a, b) => a.epoch - b.epoch)
      .map((e) => ({
        epoch: e.epoch,
        losses: e.losses ?? {},
        checkpoint: e.checkpoint ?? null,
        seconds: e.seconds ?? null,
        metrics: {},
        protocols: {},
      }));
  }
  async claimRun(runId: number, workerId: string, opts: { steal?: boolean } = {}) {
    const r = this.runs.get(runId)!;
    if (r.claimedBy && r.claimedBy !== workerId && !opts.steal) return null;
    r.generation++;
    r.workerId = workerId;
    r.claimedBy = workerId;
    return { runId, workerId, generation: r.generation };
  }
  async releaseClaim(claim: Claim) {
    const r = this.runs.get(claim.runId)!;
    if (r.generation === claim.generation) r.claimedBy = null;
  }
  async recordEpoch(runId: number, e: EpochRecord, claim?: Claim) {
    this.fence(runId, claim);
    const k = `${runId}:${e.epoch}`;
    const old = this.epochs.get(k);
    this.epochs.set(k, { ...e, runId, writes: (old?.writes ?? 0) + 1 });
  }
  async recordMetrics(runId: number, epoch: number, values: MetricRecord[], claim?: Claim) {
    this.fence(runId, claim);
    for (const v of values) this.metrics.set(`${runId}:${epoch}:${v.name}`, { ...v, runId, epoch });
    return values.length;
  }
  async best() {
    return null;
  }
}
