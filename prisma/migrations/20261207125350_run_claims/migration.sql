-- Claims of a run by a worker (fencing): every claim bumps claim_generation; a write made under
-- an older generation is refused. claimed_by / claimed_at: the current holder (null: released).
-- AlterTable
ALTER TABLE "runs" ADD COLUMN     "claim_generation" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "claimed_at" TIMESTAMPTZ(3),
ADD COLUMN     "claimed_by" TEXT;
