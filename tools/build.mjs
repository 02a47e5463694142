// Runs on `npm ci` / `npm install` (the root `prepare` script) so that `npx fidlab` works
// without knowing Nx: builds every project in dependency order.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('node_modules/nx')) {
  console.log('fidlab: nx not installed (production install?), skipping build');
  process.exit(0);
}
const r = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], {
  stdio: 'inherit',
  env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
});
process.exit(r.status ?? 1);
