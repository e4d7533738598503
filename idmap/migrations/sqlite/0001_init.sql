-- id_map maps the shim's legacy integer activation IDs to native IDs, per
-- owner. created_at, updated_at and claimed_until are Unix microseconds (UTC).
-- AUTOINCREMENT keeps deleted IDs from ever being handed out again.
CREATE TABLE id_map (
    legacy_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    owner         TEXT    NOT NULL,
    idem_key      TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'void')),
    native_id     TEXT,
    intent        BLOB,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    claimed_until INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    CHECK (state <> 'active' OR native_id IS NOT NULL)
);

-- Legacy IDs have 9 digits from the start: the first one is 100000001.
INSERT INTO sqlite_sequence (name, seq) VALUES ('id_map', 100000000);

-- Stale scans pending rows by age; retention deletes by age.
CREATE INDEX id_map_state_created ON id_map (state, created_at);
CREATE INDEX id_map_created ON id_map (created_at);
