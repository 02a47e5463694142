import { FidlabError } from '@fidlab/fid-core';

export async function runCli(argv: string[]): Promise<number> {
  console.log('fidlab', argv.join(' '), FidlabError.name);
  return 0;
}
