import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { metricNames, readSweepFile, type SweepSpec } from '../src/index.js';

// Every sweep file under examples/ parses, and the study's `best` references point at a sweep of
// the same folder, at one of its metrics, and (with `where`) at parameter values it sweeps.

const examples = join(import.meta.dirname, '../../../examples');
const folders = ['sweeps', 'cufs-study', 'cufs-study/synthetic'];

for (const folder of folders) {
  test(`examples/${folder}: sweep files parse and their best references resolve within the folder`, async () => {
    const files = readdirSync(join(examples, folder)).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length > 0);
    const specs = new Map<string, SweepSpec>();
    for (const f of files) {
      const spec = await readSweepFile(join(examples, folder, f));
      specs.set(spec.name, spec);
    }
    for (const spec of specs.values())
      for (const m of spec.evaluate?.metrics ?? []) {
        if (typeof m.extractor === 'string') continue;
        const ref = m.extractor.best;
        const other = specs.get(ref.sweep);
        assert.ok(other, `${spec.name}: ${m.name} refers to sweep ${ref.sweep}, not in ${folder}`);
        assert.ok(metricNames(other).includes(ref.metric), `${m.name}: ${ref.metric}`);
        for (const [k, v] of Object.entries(ref.where ?? {})) {
          const swept = other.parameters[k];
          const values = swept && 'values' in swept ? swept.values : [other.fixed[k]];
          assert.ok(values.includes(v), `${m.name}: ${ref.sweep} has no run with ${k}=${v}`);
        }
        if (other.trial === 'identity') assert.equal(ref.goal, 'max', `${m.name}: rank goes up`);
      }
  });
}

test('the CUFS study and its synthetic twin evaluate with the same kinds of metrics', async () => {
  const real = await readSweepFile(join(examples, 'cufs-study/generators.yaml'));
  const synth = await readSweepFile(join(examples, 'cufs-study/synthetic/generators.yaml'));
  const kinds = (s: SweepSpec) => [...new Set(s.evaluate!.metrics.map((m) => m.kind))].sort();
  assert.deepEqual(kinds(synth), kinds(real));
  const refs = (s: SweepSpec) =>
    s.evaluate!.metrics.filter((m) => typeof m.extractor !== 'string').length;
  assert.equal(refs(synth), refs(real));
  for (const m of real.evaluate!.metrics.filter((x) => x.kind === 'fid'))
    assert.ok(m.bootstrap && m.bootstrap >= 100, `${m.name} is bootstrapped`);
});
