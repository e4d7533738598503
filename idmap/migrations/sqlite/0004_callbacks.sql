-- Per-activation callbacks (getNumber's callback parameter).
--
-- callback_watches holds one row per purchase with a callback, written
-- with its id_map row (Reserve, ReserveRequest): inert while that row is
-- pending, watched once it is active, deleted when it is voided or when
-- the activation's last event is in the outbox. sealed_key is the bot's
-- API key sealed by the shim (AEAD, the owner as associated data): the
-- store never sees it in clear. state is the shim's opaque summary of the
-- activation as last seen and seq counts the events made from it, so
-- that a poll replayed after a lost lease changes nothing. Times are Unix
-- microseconds (UTC).
CREATE TABLE callback_watches (
    legacy_id     INTEGER PRIMARY KEY,
    owner         TEXT    NOT NULL,
    url           TEXT    NOT NULL,
    sealed_key    BLOB    NOT NULL,
    state         TEXT    NOT NULL,
    seq           INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    next_poll     INTEGER NOT NULL,
    claimed_until INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0
);

-- DueWatches scans by next poll time; retention deletes by age.
CREATE INDEX callback_watches_next_poll ON callback_watches (next_poll);
CREATE INDEX callback_watches_created ON callback_watches (created_at);

-- callback_outbox holds the events to POST: the body and its signature
-- as made when the event was seen (never the key), until delivered or
-- dead; retention deletes settled rows by age. event_id is the shim's
-- deterministic ID of (legacy ID, seq).
CREATE TABLE callback_outbox (
    event_id      TEXT    PRIMARY KEY,
    legacy_id     INTEGER NOT NULL,
    url           TEXT    NOT NULL,
    body          BLOB    NOT NULL,
    signature     TEXT    NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'delivered', 'dead')),
    created_at    INTEGER NOT NULL,
    next_attempt  INTEGER NOT NULL,
    claimed_until INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    settled_at    INTEGER
);

CREATE INDEX callback_outbox_due ON callback_outbox (next_attempt) WHERE state = 'due';
CREATE INDEX callback_outbox_created ON callback_outbox (created_at);
