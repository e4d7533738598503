-- LegacyIDs finds one owner's active rows by native ID. Every lookup is
-- scoped to an owner, so owner leads. Native IDs are not unique in id_map
-- (nothing stops two rows being committed to one), so neither is the index.
-- Only active rows carry a native ID, and only they are asked for, so the
-- index holds only them; it includes legacy_id so that the lookup can be
-- answered from the index alone. The migration runs in one transaction
-- under the advisory lock, so the build holds off writes to id_map until it
-- commits (CREATE INDEX CONCURRENTLY cannot run in a transaction).
CREATE INDEX id_map_owner_native ON id_map (owner, native_id) INCLUDE (legacy_id) WHERE state = 'active';
