import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { throwsCode } from '@fidlab/testing';
import { ErrorCode } from '@fidlab/base';
import { fromRows, selectRows } from './matrix.js';
import { rankK } from './rankK.js';

interface RankCase {
  ranks: number[];
  cmc: number[];
}
interface RankFixture {
  probe: number[][];
  gallery: number[][];
  probeLabels: string[];
  galleryLabels: string[];
  ks: number[];
  cosine: RankCase;
  euclidean: RankCase;
  unlabelled: { probe: number[][]; gallery: number[][]; cosine: RankCase; euclidean: RankCase };
}
const fixture = JSON.parse(
  readFileSync(new URL('../test-fixtures/metrics/rank_k.json', import.meta.url), 'utf8'),
) as RankFixture;

function assertAllClose(actual: number[], expected: number[], rtol = 1e-10): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) =>
    assert.ok(
      Math.abs(a - expected[i]) <= rtol * Math.abs(expected[i]),
      `[${i}] ${a} vs ${expected[i]}`,
    ),
  );
}

test('rank-k without labels, euclidean, worked by hand', () => {
  // Gallery 0, 1, 3 on a line; probes 0.1, 0.4, 1.2 belong to gallery rows 0, 1, 2.
  // Squared distances: p0 -> (0.01, 0.81, 8.41): rank 1; p1 -> (0.16, 0.36, 6.76): rank 2;
  // p2 -> (1.44, 0.04, 3.24): rank 3. CMC = [1/3, 2/3, 1].
  const gallery = fromRows([
    [0, 0],
    [1, 0],
    [3, 0],
  ]);
  const probe = fromRows([
    [0.1, 0],
    [0.4, 0],
    [1.2, 0],
  ]);
  const r = rankK(probe, gallery, { metric: 'euclidean', ks: [1, 2, 5] });
  assert.deepEqual(r.cmc, [1 / 3, 2 / 3, 1]);
  assert.deepEqual(r.rank, { '1': 1 / 3, '2': 2 / 3, '5': 1 }); // k = 5 clamped to 3 identities
  assert.equal(r.metric, 'euclidean');
  assert.equal(r.probes, 3);
  assert.equal(r.galleryIdentities, 3);
});

// Labelled cosine case with ties. Gallery: ann (1,0); bob (0,1) and (1,1); cat (2,0), the same
// direction as ann's image, so ann and cat are always exactly tied; dan (-1,0).
const handGallery = [
  [1, 0],
  [0, 1],
  [1, 1],
  [2, 0],
  [-1, 0],
];
const handGalleryLabels = ['ann', 'bob', 'bob', 'cat', 'dan'];
// p0 (1, 0.2) ann: cos to ann = cat = 0.981, bob best 0.832, dan -0.981 -> cat ties: rank 2.
// p1 (0.3, 1) bob: bob best (0,1) 0.958, ann = cat 0.287, dan -0.287 -> rank 1.
// p2 (-1, 0.5) cat: cat -0.894; dan 0.894, bob best (0,1) 0.447 (one identity, two images),
//    ann -0.894 ties -> rank 1 + dan + bob + ann = 4.
// CMC over 4 identities: [1/3, 2/3, 2/3, 1].
const handProbe = [
  [1, 0.2],
  [0.3, 1],
  [-1, 0.5],
];
const handProbeLabels = ['ann', 'bob', 'cat'];

test('rank-k with labels, cosine, pessimistic ties, worked by hand', () => {
  const r = rankK(fromRows(handProbe), fromRows(handGallery), {
    probeLabels: handProbeLabels,
    galleryLabels: handGalleryLabels,
  });
  assert.equal(r.metric, 'cosine'); // the default
  assert.equal(r.galleryIdentities, 4);
  assert.deepEqual(r.cmc, [1 / 3, 2 / 3, 2 / 3, 1]);
  assert.deepEqual(r.rank, { '1': 1 / 3, '5': 1, '10': 1 }); // default ks [1, 5, 10]
});

test('rank-k ties do not depend on gallery order', () => {
  const order = [4, 3, 2, 1, 0];
  const r = rankK(fromRows(handProbe), selectRows(fromRows(handGallery), order), {
    probeLabels: handProbeLabels,
    galleryLabels: order.map((j) => handGalleryLabels[j]),
  });
  assert.deepEqual(r.cmc, [1 / 3, 2 / 3, 2 / 3, 1]);
});

test('rank-k with labels matches a numpy implementation (both metrics, duplicate images)', () => {
  const probe = fromRows(fixture.probe);
  const gallery = fromRows(fixture.gallery);
  for (const metric of ['cosine', 'euclidean'] as const) {
    const r = rankK(probe, gallery, {
      metric,
      ks: fixture.ks,
      probeLabels: fixture.probeLabels,
      galleryLabels: fixture.galleryLabels,
    });
    const want = fixture[metric];
    assertAllClose(r.cmc, want.cmc);
    assert.equal(r.galleryIdentities, want.cmc.length);
    assert.equal(r.probes, fixture.probe.length);
    for (const k of fixture.ks) {
      assert.equal(
        r.rank[String(k)],
        want.cmc[Math.min(k, want.cmc.length) - 1],
        `${metric} k=${k}`,
      );
    }
  }
});

test('rank-k without labels matches a numpy implementation', () => {
  const u = fixture.unlabelled;
  for (const metric of ['cosine', 'euclidean'] as const) {
    const r = rankK(fromRows(u.probe), fromRows(u.gallery), { metric });
    assertAllClose(r.cmc, u[metric].cmc);
    assert.equal(r.galleryIdentities, u.gallery.length);
  }
});

test('rank-k accepts numeric labels', () => {
  const r = rankK(fromRows(handProbe), fromRows(handGallery), {
    probeLabels: [10, 20, 30],
    galleryLabels: [10, 20, 20, 30, 40],
  });
  assert.deepEqual(r.cmc, [1 / 3, 2 / 3, 2 / 3, 1]);
});

test('rank-k rejects bad input with a FidlabError', () => {
  const g = fromRows(handGallery);
  const p = fromRows(handProbe);
  throwsCode(
    () => rankK(p, g, { probeLabels: ['ann', 'eve', 'bob'], galleryLabels: handGalleryLabels }),
    ErrorCode.INVALID_INPUT,
    /probe 1 has identity "eve"/,
  );
  throwsCode(() => rankK(p, g), ErrorCode.SHAPE_MISMATCH, /3 probes and 5 gallery rows/);
  throwsCode(
    () => rankK(p, g, { probeLabels: handProbeLabels }),
    ErrorCode.INVALID_INPUT,
    /both probeLabels and galleryLabels/,
  );
  throwsCode(
    () => rankK(p, g, { probeLabels: ['ann'], galleryLabels: handGalleryLabels }),
    ErrorCode.SHAPE_MISMATCH,
    /probeLabels 1 vs 3/,
  );
  throwsCode(() => rankK(p, fromRows([[1, 2, 3]])), ErrorCode.SHAPE_MISMATCH, /2.*3/);
  throwsCode(
    () =>
      rankK(
        fromRows([
          [1, 0],
          [0, 0],
        ]),
        fromRows([
          [1, 0],
          [0, 1],
        ]),
      ),
    ErrorCode.INVALID_INPUT,
    /probe row 1 is a zero vector/,
  );
  // Zero vectors are fine for euclidean distance.
  assert.deepEqual(
    rankK(
      fromRows([
        [1, 0],
        [0, 0],
      ]),
      fromRows([
        [1, 0],
        [0, 0],
      ]),
      { metric: 'euclidean' },
    ).cmc,
    [1, 1],
  );
  throwsCode(
    () => rankK(p, g, { ks: [0] }),
    ErrorCode.INVALID_INPUT,
    /k must be a positive integer, got 0/,
  );
  throwsCode(
    () => rankK(p, p, { metric: 'manhattan' as 'cosine' }),
    ErrorCode.INVALID_INPUT,
    /manhattan/,
  );
  throwsCode(() => rankK(fromRows([[NaN, 1]]), fromRows([[1, 1]])), ErrorCode.NOT_FINITE, /probe/);
});
