// For Prisma's own CLI where its schema engine is available, e.g.
//   DATABASE_URL=postgresql://... npx prisma migrate deploy --config prisma/prisma.config.ts
// (Prisma 7 takes the connection URL from here, not from schema.prisma.) fidlab itself does
// not need this file: it applies prisma/migrations with its own migrator (libs/store/src/migrate.ts).
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
