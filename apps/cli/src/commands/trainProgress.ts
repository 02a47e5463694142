import type { EpochResult, StepProgress } from '@fidlab/training';

/** 75 -> "1m15s", 3725 -> "1h02m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const lossText = (l: Record<string, number>) =>
  Object.entries(l)
    .filter(([k]) => k !== 'L1') // G_L1 carries it (times lambda), as pix2pix prints
    .map(([k, v]) => `${k} ${v.toPrecision(4)}`)
    .join(' ');

/** Seconds left in the run at this step's rate. */
export const etaSeconds = (p: StepProgress): number =>
  (p.steps - p.step + (p.epochs - p.epoch) * p.steps) / p.stepsPerSecond;

/** One progress line: epoch, a bar over the epoch's steps, losses, speed, ETA of the run. */
export function progressLine(p: StepProgress, width = 20): string {
  const filled = Math.round((p.step / p.steps) * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  return (
    `epoch ${p.epoch}/${p.epochs} [${bar}] step ${p.step}/${p.steps}  ${lossText(p.losses)}  ` +
    `${p.stepsPerSecond.toFixed(2)} steps/s  ETA ${formatDuration(etaSeconds(p))}`
  );
}

export function epochLine(e: EpochResult): string {
  return (
    `epoch ${e.epoch}/${e.epochs} done in ${formatDuration(e.seconds)}: ${lossText(e.losses)} ` +
    `(lr ${e.lr.toPrecision(3)}) -> ${e.checkpointDir}`
  );
}

/**
 * Step progress for a terminal (one line redrawn in place, at most ~10 times a second) or for a
 * log (a plain line every tenth of an epoch).
 */
export function stepReporter(
  tty: { write(s: string): void; columns?: number } | null,
  err: (line: string) => void,
): { step(p: StepProgress): void; clear(): void } {
  let lastDraw = 0;
  let drawn = false;
  return {
    step(p) {
      if (tty) {
        const now = Date.now();
        if (now - lastDraw < 100 && p.step < p.steps) return;
        lastDraw = now;
        const line = progressLine(p).slice(0, Math.max(20, (tty.columns || 120) - 1));
        tty.write(`\r\x1b[2K${line}`);
        drawn = true;
        return;
      }
      const every = Math.max(1, Math.floor(p.steps / 10));
      if (p.step % every === 0 || p.step === p.steps) err(progressLine(p));
    },
    clear() {
      if (tty && drawn) tty.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
