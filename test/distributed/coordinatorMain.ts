// `fidlab-coordinator ...` from the sources, so a test can start it as a process of its own.
import { runCoordinator } from '../../apps/coordinator/src/main.js';

process.exitCode = await runCoordinator(process.argv.slice(2));
