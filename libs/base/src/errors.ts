/**
 * The one error type fidlab throws on purpose. `code` comes from a const table so that adapters
 * (CLI exit lines, tRPC codes) can map it without parsing messages.
 */
export const ErrorCode = {
  INVALID_INPUT: 'INVALID_INPUT',
  INVALID_CONFIG: 'INVALID_CONFIG',
  SHAPE_MISMATCH: 'SHAPE_MISMATCH',
  NOT_FINITE: 'NOT_FINITE',
  TOO_FEW_SAMPLES: 'TOO_FEW_SAMPLES',
  BAD_FILE_FORMAT: 'BAD_FILE_FORMAT',
  FILE_NOT_FOUND: 'FILE_NOT_FOUND',
  NUMERIC_FAILURE: 'NUMERIC_FAILURE',
  NOT_FOUND: 'NOT_FOUND',
  /** A write made under a claim of a run that a newer claim has replaced (fencing). */
  STALE_CLAIM: 'STALE_CLAIM',
  /** An artifact read back whose sha256 is not the one recorded when it was written. */
  ARTIFACT_MISMATCH: 'ARTIFACT_MISMATCH',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class FidlabError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FidlabError';
    this.code = code;
  }
}

export function isFidlabError(err: unknown): err is FidlabError {
  return err instanceof FidlabError;
}

/** Errors the user fixes by changing input (as opposed to bugs or numeric breakdowns). */
export function isInputError(err: unknown): boolean {
  return (
    isFidlabError(err) &&
    err.code !== ErrorCode.NUMERIC_FAILURE &&
    err.code !== ErrorCode.STALE_CLAIM
  );
}
