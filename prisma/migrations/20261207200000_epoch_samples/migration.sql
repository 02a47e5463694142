-- AlterTable
ALTER TABLE "epochs" ADD COLUMN     "samples_sha256" TEXT,
ADD COLUMN     "samples_uri" TEXT;
