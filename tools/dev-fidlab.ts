// Runs the `fidlab` CLI from the TypeScript sources, without a build (for development):
//   node --import tsx --conditions=@fidlab/source tools/dev-fidlab.ts <command> ...
import { runCli } from '../apps/cli/src/main.js';

process.exitCode = await runCli(process.argv.slice(2));
