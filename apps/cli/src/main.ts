import { processIo, type Io } from './command.js';
import { commands } from './commands/index.js';
import { reportFailure } from './failure.js';

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  return [
    'usage: fidlab <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'fidlab <command> --help shows the options of one command.',
  ].join('\n');
}

/** Runs `fidlab ARGV...`; returns the exit code (0 ok, 1 bad input or failure, 2 bad usage). */
export async function runCli(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name === undefined ? 2 : 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    io.err(
      `fidlab: unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')})`,
    );
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    return reportFailure(name, e, io);
  }
}
