import { processIo, usageOf, type Io } from './command.js';
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
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    io.err(
      `fidlab: unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')})`,
    );
    return 2;
  }
  // Only now is the command's module loaded, and with it the libs it needs (tfjs, sharp,
  // Prisma, ...): `fidlab --help` and `fidlab fid a.npy b.npy` never load the rest.
  const cmd = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(await usageOf(cmd));
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    return reportFailure(name, e, io);
  }
}
