-- The publication log's arrays (0001_outbox, seamq.outbox_publications) compressed with
-- lz4 instead of the default pglz: an entry holds a recording transaction's events, ~50 KB
-- for 1,000, and pglz spent ~2.3 ms compressing it (~2 µs of the recorder's statement per
-- event) where lz4 spends ~0.25 ms for the same size (measured; db/migrations/README.md).
-- A server built without lz4 support stores them uncompressed instead (as fast, ~17%
-- larger with UUID ids). Only entries written from now on change.
DO $$
BEGIN
    ALTER TABLE seamq.outbox_publications
        ALTER COLUMN positions SET COMPRESSION lz4,
        ALTER COLUMN ids SET COMPRESSION lz4,
        ALTER COLUMN sequences SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    ALTER TABLE seamq.outbox_publications
        ALTER COLUMN positions SET STORAGE EXTERNAL,
        ALTER COLUMN ids SET STORAGE EXTERNAL,
        ALTER COLUMN sequences SET STORAGE EXTERNAL;
END
$$;
