// What the report reads. Structural shapes only: the store's `Store` (getSweep, listRuns,
// runEpochs) and the API client's equivalents satisfy `ReportSource` as they are, so this lib
// depends on neither.

/** One stored metric value with what the store keeps beside it. */
export interface MetricDetail {
  value: number;
  ciLow?: number | null;
  ciHigh?: number | null;
  extractor?: string | null;
  n1?: number | null;
  n2?: number | null;
  /** `extra.protocol` (evaluation protocol), `extra.recipe` (the full metric recipe), `extra.k`, ... */
  extra?: unknown;
}

/** One recorded epoch of a run: every metric value with its details. */
export interface EpochData {
  epoch: number;
  details: Record<string, MetricDetail>;
}

export interface RunData {
  id: number;
  key: string;
  parameters: unknown;
  status: string;
  epochs: EpochData[];
}

export interface SweepData {
  name: string;
  /** The sweep file as stored (`evaluate.metrics`, `trial`, `select`); may be anything. */
  spec: unknown;
  runs: RunData[];
}

/** The store's read API, as much of it as the report needs. */
export interface ReportSource {
  getSweep(name: string): Promise<{ name: string; spec: unknown } | null>;
  listRuns(
    sweep: string,
  ): Promise<{ id: number; key: string; parameters: unknown; status: string }[]>;
  runEpochs(runId: number): Promise<EpochData[]>;
}
