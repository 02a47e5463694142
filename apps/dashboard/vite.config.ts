// Builds the dashboard into dist/ (served at / by the API server). Preact's JSX runtime; no
// external URLs at run time (system fonts, everything bundled).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  server: { proxy: { '/trpc': 'http://127.0.0.1:4400', '/files': 'http://127.0.0.1:4400' } },
});
