-- Per-activation callbacks (getNumber's callback parameter).
--
-- callback_watches holds one row per purchase with a callback, written
-- with its id_map row (Reserve, ReserveRequest): inert while that row is
-- pending, watched once it is active, deleted when it is voided or when
-- the activation's last event is in the outbox. sealed_key is the bot's
-- API key sealed by the shim (AEAD, the owner as associated data): the
-- store never sees it in clear. state is the shim's opaque summary of the
-- activation as last seen and seq counts the events made from it, so
-- that a poll replayed after a lost lease changes nothing. No foreign
-- key: retention deletes id_map rows on its own schedule.
CREATE TABLE callback_watches (
    legacy_id     bigint      PRIMARY KEY,
    owner         text        NOT NULL,
    url           text        NOT NULL,
    sealed_key    bytea       NOT NULL,
    state         text        NOT NULL,
    seq           integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    next_poll     timestamptz NOT NULL,
    claimed_until timestamptz,
    attempts      integer     NOT NULL DEFAULT 0
);

-- DueWatches scans by next poll time; retention deletes by age.
CREATE INDEX callback_watches_next_poll ON callback_watches (next_poll);
CREATE INDEX callback_watches_created ON callback_watches (created_at);

-- callback_outbox holds the events to POST: the body and its signature
-- as made when the event was seen (never the key), until delivered or
-- dead; retention deletes settled rows by age. event_id is the shim's
-- deterministic ID of (legacy ID, seq).
CREATE TABLE callback_outbox (
    event_id      text        PRIMARY KEY,
    legacy_id     bigint      NOT NULL,
    url           text        NOT NULL,
    body          bytea       NOT NULL,
    signature     text        NOT NULL,
    state         text        NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'delivered', 'dead')),
    created_at    timestamptz NOT NULL,
    next_attempt  timestamptz NOT NULL,
    claimed_until timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    settled_at    timestamptz
);

CREATE INDEX callback_outbox_due ON callback_outbox (next_attempt) WHERE state = 'due';
CREATE INDEX callback_outbox_created ON callback_outbox (created_at);
