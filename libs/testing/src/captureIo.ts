/**
 * An output sink that records lines instead of printing them: the shape of the CLI's and the
 * apps' `Io` ({ out, err }), so command tests run in-process and read what was printed.
 */
export interface CapturedIo {
  out(line: string): void;
  err(line: string): void;
  stdout: string[];
  stderr: string[];
}

export function captureIo(): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}
