-- LegacyIDs finds one owner's active rows by native ID. Every lookup is
-- scoped to an owner, so owner leads. Native IDs are not unique in id_map
-- (nothing stops two rows being committed to one), so neither is the index.
-- Only active rows carry a native ID, and only they are asked for, so the
-- index holds only them; legacy_id is the rowid, in every index already.
CREATE INDEX id_map_owner_native ON id_map (owner, native_id) WHERE state = 'active';
