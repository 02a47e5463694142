import type { Command } from '../command.js';
import { correlateCommand } from './correlate.js';
import { data } from './data.js';
import { demoCommand } from './demo.js';
import { featuresCommand } from './features.js';
import { fidCommand } from './fid.js';
import { generateCommand } from './generate.js';
import { kidCommand } from './kid.js';
import { rankKCommand } from './rankK.js';
import { runCommand } from './run.js';
import { statsCommand } from './stats.js';
import { trainCommand } from './train.js';
import { weightsCommand } from './weights.js';
import { bestCommand } from './best.js';
import { exportCommand } from './export.js';
import { reportCommand } from './report.js';
import { runsCommand } from './runs.js';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';

/** Every `fidlab` subcommand, in the order `fidlab --help` lists them. */
export const commands: Command[] = [
  fidCommand,
  kidCommand,
  rankKCommand,
  statsCommand,
  featuresCommand,
  correlateCommand,
  data,
  demoCommand,
  runCommand,
  bestCommand,
  runsCommand,
  exportCommand,
  reportCommand,
  serveCommand,
  tokenCommand,
  trainCommand,
  generateCommand,
  weightsCommand,
];
