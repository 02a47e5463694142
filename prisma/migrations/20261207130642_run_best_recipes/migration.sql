-- AlterTable
ALTER TABLE "run_best" ADD COLUMN     "recipes" JSONB NOT NULL DEFAULT '[]';

-- Backfill from metric_values: the distinct recipes of each run's values of each metric
-- (extra->'recipe', JSON null for values recorded without one), as refreshRunBest computes them.
UPDATE "run_best" b
SET "recipes" = v.recipes
FROM (
  SELECT run_id, name, jsonb_agg(DISTINCT COALESCE(extra->'recipe', 'null'::jsonb)) AS recipes
  FROM "metric_values"
  GROUP BY run_id, name
) v
WHERE b.run_id = v.run_id AND b.name = v.name;
