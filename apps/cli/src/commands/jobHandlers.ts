// The real job handlers for `fidlab worker`: the sweep engine's trial and evaluation jobs.
import { ErrorCode, FidlabError } from '@fidlab/base';
import type { JobHandlers } from '@fidlab/bus';

export function jobHandlers(_opts: { runsDir?: string; log: (line: string) => void }): JobHandlers {
  const missing = async () => {
    throw new FidlabError(ErrorCode.INVALID_CONFIG, 'this build has no trial job handler yet');
  };
  return { trial: missing, evaluation: missing };
}
