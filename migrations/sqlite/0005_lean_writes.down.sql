-- Nothing to undo (see 0005_lean_writes.up.sql).
SELECT 1;
