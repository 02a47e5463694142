// The layers of fidlab and the fence between them, as data: every project's `tags` in its
// project.json names its layer, and eslint.config.js turns this table into
// @nx/enforce-module-boundaries constraints. Lower layers never import higher ones:
//
//   base -> engines -> orchestrator -> adapters -> apps      (testing: imported by tests only)
//
// The rule's own messages name the tags; the wrapper below appends the reason from this table,
// so a failing lint says why the import is refused.
import nxPlugin from '@nx/eslint-plugin';

/** Drivers: only adapters (and apps) talk to a database, a bus or Prisma. */
export const DRIVERS = [
  '@prisma/*',
  'prisma',
  'pg',
  '@electric-sql/pglite',
  'pglite-prisma-adapter',
  'nats',
  '@nats-io/*',
];

/** Per layer tag: the layer tags it may depend on, the npm packages it may not import, and why. */
export const LAYERS = {
  'layer:base': {
    may: ['layer:base'],
    banned: ['@tensorflow/*', ...DRIVERS],
    why: 'base (errors, rng, file formats) sits under everything, so it imports no other fidlab lib, ML backend or driver (STYLE.md: Layout)',
  },
  'layer:engine': {
    may: ['layer:base', 'layer:engine', 'layer:testing'],
    banned: DRIVERS,
    why: 'engines hold the science and run in any process: they never import the orchestrator, an adapter (store, api, bus), an app or a database/bus driver; apps build adapters and hand them in (STYLE.md: Layout)',
  },
  'layer:orchestrator': {
    may: ['layer:base', 'layer:engine', 'layer:orchestrator', 'layer:testing'],
    banned: DRIVERS,
    why: 'the sweep engine talks to its ports (Recorder, Dispatcher in libs/experiments/src/ports.ts), never to an adapter (store, api, bus) or a driver, so the same code runs in one process or across NATS workers (STYLE.md: Ports)',
  },
  'layer:adapter': {
    may: ['layer:base', 'layer:engine', 'layer:orchestrator', 'layer:adapter', 'layer:testing'],
    banned: [],
    why: 'adapters connect the engines to the world and are chosen by apps; apps import adapters, never the other way round (STYLE.md: Layout)',
  },
  'layer:app': {
    may: ['layer:base', 'layer:engine', 'layer:orchestrator', 'layer:adapter', 'layer:testing'],
    banned: [],
    why: 'apps are entry points: nothing imports an app (STYLE.md: Layout)',
  },
  'layer:testing': {
    may: [],
    banned: [],
    why: 'the test helpers import no fidlab lib, so every lib can use them in its tests without a dependency cycle (a trained checkpoint comes from the CLI in a child process)',
  },
};

/** Further tags, on top of the layer, that narrow what a project may import. */
export const SCOPES = {
  'tfjs:none': {
    banned: ['@tensorflow/*'],
    why: 'fid-core and datasets are plain TypeScript on typed arrays (images in, numbers out); ML backends are chosen by apps (STYLE.md: The tfjs backend)',
  },
};

/**
 * Dependency cycles that only tests and benches make, accepted by name: tfjs-cpu's kernels exist
 * for models and training, and its parity tests and training bench run them on those real
 * architectures and that optimizer (models and training depend on tfjs-cpu in their code).
 */
export const TEST_ONLY_CYCLES = [
  ['tfjs-cpu', 'models'],
  ['tfjs-cpu', 'training'],
];

/** The @nx/enforce-module-boundaries options for this table. */
export function boundaryOptions({ allow = [], ignoredCircularDependencies = [] } = {}) {
  return {
    allow,
    ignoredCircularDependencies: [...TEST_ONLY_CYCLES, ...ignoredCircularDependencies],
    // A bench may import its own lib by package name, as users do.
    allowCircularSelfDependency: true,
    enforceBuildableLibDependency: false,
    depConstraints: [
      ...Object.entries(LAYERS).map(([sourceTag, l]) => ({
        sourceTag,
        onlyDependOnLibsWithTags: l.may,
        ...(l.banned.length ? { bannedExternalImports: l.banned } : {}),
      })),
      ...Object.entries(SCOPES).map(([sourceTag, s]) => ({
        sourceTag,
        bannedExternalImports: s.banned,
      })),
    ],
  };
}

const nxRule = nxPlugin.rules['enforce-module-boundaries'];

function reasonFor(data = {}) {
  const tag = String(data.sourceTag ?? '').split('" and "')[0];
  const l = LAYERS[tag] ?? SCOPES[tag];
  return l ? ` - ${l.why}.` : '';
}

/**
 * @nx/enforce-module-boundaries with the reason appended to each message: the same checks, the
 * same options; only `context.report` is wrapped.
 */
const layersRule = {
  ...nxRule,
  meta: {
    ...nxRule.meta,
    messages: Object.fromEntries(
      Object.entries(nxRule.meta.messages).map(([id, text]) => [id, `${text}{{why}}`]),
    ),
  },
  create(context) {
    const wrapped = Object.create(context, {
      report: {
        value: (descriptor) =>
          context.report({
            ...descriptor,
            data: { ...descriptor.data, why: reasonFor(descriptor.data) },
          }),
      },
    });
    return nxRule.create(wrapped);
  },
};

/** The ESLint plugin that holds the wrapped rule: `fidlab/layers`. */
export const fidlabPlugin = { rules: { layers: layersRule } };
