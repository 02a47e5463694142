// One ESLint config for the whole workspace; Prettier owns formatting (eslint-config-prettier
// turns off the rules that would fight it).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

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
    // Engines hold the science; ML backends, databases and buses are chosen by apps (STYLE.md).
    files: ['libs/fid-core/**/*.ts', 'libs/datasets/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@tensorflow/*', '@prisma/*', '@nats-io/*', 'nats'],
              message:
                'engines (fid-core, datasets) never import an ML backend, the store or the bus: apps choose those (STYLE.md).',
            },
          ],
        },
      ],
    },
  },
);
