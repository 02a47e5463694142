// One ESLint config for the whole workspace; Prettier owns formatting (eslint-config-prettier
// turns off the rules that would fight it).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import { boundaryOptions, fidlabPlugin } from './tools/lint/layers.mjs';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.nx/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // The layer fence: base -> engines -> orchestrator -> adapters -> apps (tools/lint/layers.mjs
    // holds the table and the reasons; each project.json carries its layer tag).
    files: ['libs/**/*.ts', 'apps/**/*.ts'],
    plugins: { fidlab: fidlabPlugin },
    rules: {
      'fidlab/layers': [
        'error',
        boundaryOptions({
          // The store imports the engine's port types (experiments): an import of the store from
          // below closes a cycle through it, which Nx would report instead of the layer rule.
          ignoredCircularDependencies: [['experiments', 'store']],
        }),
      ],
    },
  },
  {
    // Test helpers are for tests: library and app code never imports them.
    files: ['libs/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@fidlab/testing',
              message:
                '@fidlab/testing is a devDependency for tests (*.test.ts, test/, bench/): library and app code must not need it.',
            },
          ],
        },
      ],
    },
  },
);
