import { spawnSync } from 'node:child_process';

/** True when missing services or tools must fail the run instead of skipping (CI sets it). */
export function servicesRequired(): boolean {
  return process.env.FIDLAB_REQUIRE_SERVICES === '1';
}

/**
 * The skip reason for a suite whose service or tool is missing: returns `reason` to pass to
 * `t.skip()`, or throws when FIDLAB_REQUIRE_SERVICES=1 (then a skip would hide a CI failure).
 */
export function skipOrFail(reason: string): string {
  if (servicesRequired()) throw new Error(`${reason}, and FIDLAB_REQUIRE_SERVICES=1 requires it`);
  return reason;
}

/**
 * The python3 (Debian's /usr/bin/python3 first) that imports all of `modules`, or undefined.
 * Memoised per module list: each probe starts a Python.
 */
const found = new Map<string, string | undefined>();
export function findPython(modules: string[] = ['torch']): string | undefined {
  const key = modules.join(',');
  if (!found.has(key)) {
    let hit: string | undefined;
    for (const py of ['/usr/bin/python3', 'python3']) {
      const r = spawnSync(py, ['-c', `import ${key}`], { stdio: 'ignore' });
      if (r.status === 0) {
        hit = py;
        break;
      }
    }
    found.set(key, hit);
  }
  return found.get(key);
}

/**
 * The reason to skip a suite that needs python3 with `modules` (e.g. a PyTorch reference), or
 * false to run it; throws instead of skipping when FIDLAB_REQUIRE_SERVICES=1.
 */
export function pythonSkip(modules: string[] = ['torch']): string | false {
  if (findPython(modules)) return false;
  return skipOrFail(
    `python3 with ${modules.join(', ')} not found (apt-get install ${modules
      .map((m) => (m === 'PIL' ? 'python3-pil' : `python3-${m}`))
      .join(' ')})`,
  );
}
