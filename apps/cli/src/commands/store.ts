import { backupStore, checkStore, restoreStore } from '@fidlab/store';
import { parse, UsageError, type Command } from '../command.js';
import { requireInputFile, requireOutputFile } from '../paths.js';

function dbOptions(db: string | undefined): { url?: string } {
  return db !== undefined ? { url: db } : {};
}

export const storeCommand: Command = {
  name: 'store',
  summary: 'check the experiment store for damage, back it up to a file, restore it from one',
  usage: `usage: fidlab store check [--db URL]
       fidlab store backup FILE [--db URL]
       fidlab store restore FILE [--db URL]

check     opens the store (a damaged embedded store is refused on every open) and reads every
          table twice, in full and through its primary key; exit 1 lists each problem
backup    embedded store: a .tar.gz of its data folder (PGlite's dump, taken under the store's
          lock); PostgreSQL: pg_dump --format=custom (the standard tool, needed on PATH)
restore   embedded store: the current folder is moved aside (DIR.before-restore-TIME, never
          deleted) and the backup loaded in its place; PostgreSQL: pg_restore --clean
          --if-exists --single-transaction; then the store is checked

  --db URL   PostgreSQL URL or pglite:DIR (default DATABASE_URL, else embedded .fidlab/db)`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      allowPositionals: true,
      options: { db: { type: 'string' } },
    });
    const [action, file, ...extra] = positionals;
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const opts = dbOptions(values.db);
    if (action === 'check') {
      if (file !== undefined) throw new UsageError(`unexpected argument '${file}'`);
      const r = await checkStore(opts);
      const rows = r.tables.reduce((a, t) => a + t.rows, 0);
      if (r.ok) {
        io.out(`ok: ${r.kind} store ${r.location}: ${r.tables.length} tables, ${rows} rows read`);
        return 0;
      }
      io.err(`fidlab store: the store ${r.location} is damaged (${r.problems.length} problem(s)):`);
      for (const p of r.problems) io.err(`  ${p}`);
      io.err(`restore a backup with 'fidlab store restore FILE'`);
      return 1;
    }
    if (action === 'backup' || action === 'restore') {
      if (file === undefined) throw new UsageError(`store ${action} needs a FILE`);
      if (action === 'backup') {
        requireOutputFile(file, 'backup file');
        const r = await backupStore(opts, file);
        io.out(
          `backed up ${r.kind} store ${r.location} to ${r.file} (${r.bytes} bytes, ${r.method})`,
        );
        return 0;
      }
      requireInputFile(file, 'backup file', 'a backup file');
      const r = await restoreStore(opts, file);
      if (r.movedAside) io.err(`fidlab store: the previous store was moved to ${r.movedAside}`);
      const rows = r.check.tables.reduce((a, t) => a + t.rows, 0);
      if (!r.check.ok) {
        io.err(`fidlab store: restored ${r.location} from ${file}, but the check found problems:`);
        for (const p of r.check.problems) io.err(`  ${p}`);
        return 1;
      }
      io.out(
        `restored ${r.kind} store ${r.location} from ${file} (${r.method}); check ok: ${r.check.tables.length} tables, ${rows} rows`,
      );
      return 0;
    }
    throw new UsageError(`expected check, backup or restore, got '${action ?? ''}'`);
  },
};
