// Two `fidlab run` processes of one sweep on one PostgreSQL database (real processes, a real
// server): each trial is claimed in the database before it is trained, so every trial is trained
// by exactly one of them; a process that finds a trial claimed by the other, live one says so in
// one line and waits for it instead of training it too.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { openStore } from '@fidlab/store';
import { createTestDatabase, tempDir, type TestDatabase } from '@fidlab/testing';

const DEV_FIDLAB = fileURLToPath(new URL('../../../tools/dev-fidlab.ts', import.meta.url));
// The processes run in a temporary folder, where `--import tsx` would not resolve.
const TSX = import.meta.resolve('tsx');

interface Runner {
  stderr: string;
  exit: Promise<number | null>;
  /** Resolves when a line of stderr matches. */
  waitFor(re: RegExp): Promise<void>;
}

function fidlabRun(args: string[], cwd: string): Runner {
  const child = spawn(
    process.execPath,
    ['--import', TSX, '--conditions=@fidlab/source', DEV_FIDLAB, 'run', ...args],
    { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const runner: Runner = {
    stderr: '',
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    waitFor: (re) =>
      re.test(runner.stderr)
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ re, resolve })),
  };
  child.stdout.resume();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    runner.stderr += chunk;
    for (const w of waiters.splice(0)) {
      if (w.re.test(runner.stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  return runner;
}

let db: TestDatabase | undefined;
after(async () => db?.drop());

test(
  'two fidlab run processes of one sweep train each trial once',
  { timeout: 600_000 },
  async (t) => {
    const created = await createTestDatabase({ prefix: 'fidlab_two_runners' });
    if (typeof created === 'string') return t.skip(created);
    db = created;
    const dir = tempDir(t, 'fidlab-two-runners-');
    const sweep = join(dir, 'two.yaml');
    writeFileSync(
      sweep,
      `name: two
data:
  root: ${join(dir, 'data')}
  size: 32
  synth: { identities: 4, per_identity: 3, seed: 3 }
parameters:
  seed: { values: [1, 2, 3] }
fixed: { model: unet, direction: sketch2sketch, gan_mode: none, epochs: 3, epochs_decay: 0, batch_size: 4, ngf: 4 }
evaluate:
  metrics:
    - { name: fid_face, kind: fid, extractor: facerec }
select: { metric: fid_face, goal: min }
`,
    );
    const args = [sweep, '--db', db.url, '--runs-dir', join(dir, 'runs'), '--backend', 'wasm'];
    const a = fidlabRun(args, dir);
    // The second process starts once the first trains its first trial (data generated, claimed).
    await Promise.race([a.waitFor(/: training in /), a.exit]);
    const b = fidlabRun(args, dir);
    const [codeA, codeB] = await Promise.all([a.exit, b.exit]);
    const both = `--- first:\n${a.stderr}\n--- second:\n${b.stderr}`;
    assert.equal(codeA, 0, both);
    assert.equal(codeB, 0, both);

    const store = await openStore({ url: db.url });
    try {
      const runs = await store.listRuns({ sweep: 'two' });
      assert.equal(runs.length, 3);
      for (const run of runs) {
        const trainedBy = [a, b].filter((r) => r.stderr.includes(`: training in ${run.runDir}\n`));
        assert.equal(
          trainedBy.length,
          1,
          `run ${run.key} trained by ${trainedBy.length}:\n${both}`,
        );
        assert.equal(run.status, 'done');
        assert.equal(run.attempt, 1, `run ${run.key} started once`);
        assert.equal(run.claimedBy, null, 'claims released');
        assert.deepEqual(
          (await store.runEpochs(run.id)).map((e) => [e.epoch, 'fid_face' in e.metrics]),
          [
            [1, true],
            [2, true],
            [3, true],
          ],
        );
      }
      assert.equal((await store.getSweep('two'))?.status, 'done');
    } finally {
      await store.close();
    }
    // Whoever met a trial the other held said so, once per trial, naming the live worker.
    const said = `${a.stderr}${b.stderr}`.match(
      /^trial \d\/3 \[seed=\d\]: claimed by worker run-\S+, which is alive: .*$/gm,
    );
    assert.ok(said && said.length >= 1, both);
    assert.equal(new Set(said).size, said.length, 'one line per trial and process');
  },
);
