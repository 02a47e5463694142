/** Number formatting shared by the human-readable outputs. */
export function fmt(x: number, digits = 6): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e7 || a < 1e-4)) return x.toExponential(digits - 1);
  return x.toFixed(Math.max(0, digits - Math.max(1, Math.floor(Math.log10(a || 1)) + 1)));
}

/** Progress lines on stderr for long loops: at most ~10 lines per run. */
export function progressPrinter(
  err: (line: string) => void,
  label: string,
): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const step = Math.floor((done * 10) / total);
    if (step !== last) {
      last = step;
      err(`${label} ${done}/${total}`);
    }
  };
}

/** A plain decimal number (`-3`, `2.5e-4`, `.5`); NaN for anything else (`0x10`, `1_000`, ''). */
export function parseDecimal(text: string): number {
  const t = text.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN;
}
