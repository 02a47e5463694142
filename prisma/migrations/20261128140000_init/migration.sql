-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "sweeps" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sweeps_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "runs" (
    "id" SERIAL NOT NULL,
    "sweep_id" INTEGER NOT NULL,
    "key" TEXT NOT NULL,
    "parameters" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "worker_id" TEXT,
    "error" TEXT,
    "run_dir" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "epochs" (
    "id" SERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "epoch" INTEGER NOT NULL,
    "losses" JSONB NOT NULL,
    "checkpoint_uri" TEXT,
    "checkpoint_sha256" TEXT,
    "checkpoint_bytes" BIGINT,
    "seconds" DOUBLE PRECISION,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "epochs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "metric_values" (
    "id" BIGSERIAL NOT NULL,
    "run_id" INTEGER NOT NULL,
    "epoch" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "value" DOUBLE PRECISION NOT NULL,
    "ci_low" DOUBLE PRECISION,
    "ci_high" DOUBLE PRECISION,
    "extractor" TEXT,
    "n1" INTEGER,
    "n2" INTEGER,
    "extra" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "metric_values_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "run_best" (
    "run_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "min_value" DOUBLE PRECISION NOT NULL,
    "min_epoch" INTEGER NOT NULL,
    "max_value" DOUBLE PRECISION NOT NULL,
    "max_epoch" INTEGER NOT NULL,
    "last_value" DOUBLE PRECISION NOT NULL,
    "last_epoch" INTEGER NOT NULL,
    "count" INTEGER NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "run_best_pkey" PRIMARY KEY ("run_id","name")
);

-- CreateTable
CREATE TABLE "workers" (
    "id" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER,
    "info" JSONB,
    "status" TEXT NOT NULL DEFAULT 'idle',
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "workers_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_tokens" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "sweeps_name_key" ON "sweeps"("name");

-- CreateIndex
CREATE INDEX "runs_sweep_id_status_idx" ON "runs"("sweep_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "runs_sweep_id_key_key" ON "runs"("sweep_id", "key");

-- CreateIndex
CREATE UNIQUE INDEX "epochs_run_id_epoch_key" ON "epochs"("run_id", "epoch");

-- CreateIndex
CREATE INDEX "metric_values_name_value_idx" ON "metric_values"("name", "value");

-- CreateIndex
CREATE UNIQUE INDEX "metric_values_run_id_epoch_name_key" ON "metric_values"("run_id", "epoch", "name");

-- CreateIndex
CREATE INDEX "run_best_name_min_value_idx" ON "run_best"("name", "min_value");

-- CreateIndex
CREATE INDEX "run_best_name_max_value_idx" ON "run_best"("name", "max_value");

-- CreateIndex
CREATE UNIQUE INDEX "api_tokens_name_key" ON "api_tokens"("name");

-- CreateIndex
CREATE UNIQUE INDEX "api_tokens_hash_key" ON "api_tokens"("hash");

-- AddForeignKey
ALTER TABLE "runs" ADD CONSTRAINT "runs_sweep_id_fkey" FOREIGN KEY ("sweep_id") REFERENCES "sweeps"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "epochs" ADD CONSTRAINT "epochs_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "metric_values" ADD CONSTRAINT "metric_values_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "run_best" ADD CONSTRAINT "run_best_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
