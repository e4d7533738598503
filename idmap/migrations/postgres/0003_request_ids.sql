-- request_ids binds a bot's requestId (getNumber, getNumberV2) to the
-- journal row of its purchase, so that a retry with the same requestId, on
-- any replica, gets that purchase instead of a new one. request_id is a
-- hash of the bot's value and params a fingerprint of the purchase
-- parameters; the shim computes both, the store compares them. A binding
-- whose row is void or gone (retention) is rebound to a new purchase; one
-- older than the shim's SHIM_REQUEST_ID_TTL is ignored, and
-- DeleteRequestsBefore removes it. There is no foreign key: retention
-- deletes id_map rows on its own schedule, and a missing row reads as void.
CREATE TABLE request_ids (
    owner      text        NOT NULL,
    request_id text        NOT NULL,
    params     text        NOT NULL,
    legacy_id  bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (owner, request_id)
);

-- Retention deletes by age.
CREATE INDEX request_ids_created ON request_ids (created_at);
