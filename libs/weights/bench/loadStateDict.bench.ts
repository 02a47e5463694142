// Times loadStateDict against torch.load on full-size state_dicts (torchvision's InceptionV3 with
// 1008 classes, ~24M values; VGG16 with 2622 classes, 145M values as VGG-Face) in both formats.
//   nice node --import tsx --conditions=@fidlab/source libs/weights/bench/loadStateDict.bench.ts
// Needs python3 with torch and torchvision; writes ~1.4 GB of temporary files (deleted after).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPython } from '@fidlab/testing';
import { loadStateDict } from '../src/index.js';

const python = findPython(['torch']);
if (!python) {
  console.error('skipped: python3 with torch not found (apt-get install python3-torch)');
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'fidlab-weights-bench-'));
const script = `
import sys, time, torch, torchvision
d = sys.argv[1]
nets = {"inception": torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008),
        "vgg16": torchvision.models.vgg16(weights=None, num_classes=2622)}
for name, m in nets.items():
    sd = m.state_dict()
    for fmt, zip_ in (("zip", True), ("legacy", False)):
        p = f"{d}/{name}_{fmt}.pth"
        torch.save(sd, p, _use_new_zipfile_serialization=zip_)
        best = min((lambda t: (torch.load(p), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
        print(f"{name}_{fmt} {best:.3f}")
`;
try {
  const r = spawnSync(python, ['-c', script, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  console.log('| file | MB | torch.load s | loadStateDict s (best of 3) |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const line of r.stdout.trim().split('\n')) {
    const [name, torchSecs] = line.split(' ');
    const path = join(dir, `${name}.pth`);
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await loadStateDict(path);
      best = Math.min(best, (performance.now() - t) / 1000);
    }
    const mb = (statSync(path).size / 1e6).toFixed(1);
    console.log(`| ${name}.pth | ${mb} | ${torchSecs} | ${best.toFixed(3)} |`);
  }
  console.log(`peak rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
