-- id_map maps the shim's legacy integer activation IDs to native IDs, per
-- owner. The sequence is shared by every replica, so IDs are unique across
-- them; a sequence never hands out a value twice.
CREATE SEQUENCE id_map_legacy_id_seq AS bigint
    START WITH 100000001 MINVALUE 100000001 NO CYCLE;

CREATE TABLE id_map (
    legacy_id     bigint      PRIMARY KEY DEFAULT nextval('id_map_legacy_id_seq'),
    owner         text        NOT NULL,
    idem_key      text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('pending', 'active', 'void')),
    native_id     text,
    intent        bytea,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    claimed_until timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    CHECK (state <> 'active' OR native_id IS NOT NULL)
);

ALTER SEQUENCE id_map_legacy_id_seq OWNED BY id_map.legacy_id;

-- Stale scans pending rows by age; retention deletes by age.
CREATE INDEX id_map_state_created ON id_map (state, created_at);
CREATE INDEX id_map_created ON id_map (created_at);
