-- AlterTable
ALTER TABLE "run_best" ADD COLUMN     "last_protocol" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "protocols" INTEGER[] NOT NULL DEFAULT ARRAY[]::INTEGER[];

-- Backfill from metric_values, with the store's protocol rule (protocolSql in store.ts):
-- extra.protocol when it is an integer in 1..2147483647, else 1.
UPDATE "run_best" b
SET "protocols" = v.protocols, "last_protocol" = v.last
FROM (
  SELECT run_id, name, array_agg(DISTINCT p ORDER BY p) AS protocols,
    (array_agg(p ORDER BY epoch DESC))[1] AS last
  FROM (
    SELECT run_id, name, epoch, (CASE
      WHEN jsonb_typeof(extra->'protocol') IS DISTINCT FROM 'number' THEN 1
      WHEN (extra->>'protocol')::numeric BETWEEN 1 AND 2147483647
        AND (extra->>'protocol')::numeric = trunc((extra->>'protocol')::numeric)
        THEN (extra->>'protocol')::numeric::int
      ELSE 1 END) AS p
    FROM "metric_values"
  ) m
  GROUP BY run_id, name
) v
WHERE b.run_id = v.run_id AND b.name = v.name;
