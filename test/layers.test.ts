// The layer fence (eslint.config.js + tools/lint/layers.mjs) fires: files written into an engine
// lib and into the orchestrator that import an adapter or a driver fail lint with the reason,
// and a legal import passes. The files are real (the rule finds their project by path) and
// removed after.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..');
const tag = randomBytes(4).toString('hex');
const probes = {
  engineStore: `libs/models/src/fence-probe-${tag}-store.ts`,
  engineDriver: `libs/fid-core/src/fence-probe-${tag}-pg.ts`,
  orchestratorStore: `libs/experiments/src/fence-probe-${tag}-store.ts`,
  libTesting: `libs/datasets/src/fence-probe-${tag}-testing.ts`,
  legal: `libs/models/src/fence-probe-${tag}-legal.ts`,
};
const sources: Record<keyof typeof probes, string> = {
  engineStore: `import type { Store } from '@fidlab/store';\nexport type S = Store;\n`,
  engineDriver: `import pg from 'pg';\nexport const client = pg.Client;\n`,
  orchestratorStore: `import { openStore } from '@fidlab/store';\nexport const open = openStore;\n`,
  libTesting: `import { tempDir } from '@fidlab/testing';\nexport const t = tempDir;\n`,
  legal: `import { createRng } from '@fidlab/base';\nexport const rng = createRng(1);\n`,
};

let results: Record<string, ESLint.LintResult> = {};

before(async () => {
  // The rule reads Nx's cached project graph (CI's `nx run-many` has made it; make sure).
  const nx = spawnSync('npx', ['nx', 'show', 'projects'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
  });
  assert.equal(nx.status, 0, nx.stderr);
  for (const [k, p] of Object.entries(probes))
    writeFileSync(join(root, p), sources[k as keyof typeof probes]);
  const eslint = new ESLint({ cwd: root });
  const out = await eslint.lintFiles(Object.values(probes).map((p) => join(root, p)));
  results = Object.fromEntries(out.map((r) => [relative(root, r.filePath), r]));
});
after(() => {
  for (const p of Object.values(probes)) rmSync(join(root, p), { force: true });
});

function errors(probe: keyof typeof probes): string[] {
  const r = results[probes[probe]];
  assert.ok(r, `${probes[probe]} was not linted`);
  return r.messages.filter((m) => m.severity === 2).map((m) => `${m.ruleId}: ${m.message}`);
}

test('an engine importing the store fails with the layer rule and says why', () => {
  const e = errors('engineStore');
  assert.equal(e.length, 1, e.join('\n'));
  assert.match(e[0], /^fidlab\/layers: A project tagged with "layer:engine" can only depend on/);
  assert.match(e[0], /engines hold the science .* never import .* an adapter \(store, api, bus\)/);
});

test('an engine importing a database driver fails (banned external import)', () => {
  const e = errors('engineDriver');
  assert.equal(e.length, 1, e.join('\n'));
  assert.match(e[0], /"layer:engine" is not allowed to import "pg"/);
});

test('the orchestrator importing the store fails', () => {
  const e = errors('orchestratorStore');
  assert.equal(e.length, 1, e.join('\n'));
  assert.match(
    e[0],
    /"layer:orchestrator" can only depend on .* - the sweep engine talks to its ports/,
  );
});

test('library code importing @fidlab/testing fails', () => {
  const e = errors('libTesting');
  assert.equal(e.length, 1, e.join('\n'));
  assert.match(e[0], /^no-restricted-imports: .*devDependency for tests/);
});

test('a legal import (an engine using base) passes', () => {
  assert.deepEqual(errors('legal'), []);
});
