import type { Command } from '../command.js';

/** Every `fidlab` subcommand, in the order `fidlab --help` lists them. */
export const commands: Command[] = [];
