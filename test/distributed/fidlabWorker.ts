// `fidlab worker ...` loaded without the rest of the CLI (the worker command module alone), so a
// test can start many worker processes quickly from the sources.
import { processIo } from '../../apps/cli/src/command.js';
import { workerCommand } from '../../apps/cli/src/commands/worker.js';

process.exitCode = await workerCommand.run(process.argv.slice(2), processIo);
