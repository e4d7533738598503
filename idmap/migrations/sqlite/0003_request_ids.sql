-- request_ids binds a bot's requestId (getNumber, getNumberV2) to the
-- journal row of its purchase, so that a retry with the same requestId gets
-- that purchase instead of a new one. request_id is a hash of the bot's
-- value and params a fingerprint of the purchase parameters; the shim
-- computes both, the store compares them. A binding whose row is void or
-- gone (retention) is rebound to a new purchase; one older than the
-- shim's SHIM_REQUEST_ID_TTL is ignored, and DeleteRequestsBefore removes
-- it. created_at is Unix microseconds (UTC).
CREATE TABLE request_ids (
    owner      TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    params     TEXT    NOT NULL,
    legacy_id  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, request_id)
) WITHOUT ROWID;

-- Retention deletes by age.
CREATE INDEX request_ids_created ON request_ids (created_at);
