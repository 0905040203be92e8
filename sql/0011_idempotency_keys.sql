-- Idempotent commands: a client that retries a mutation with the same key
-- gets the event that the first attempt stored, never a second one. Each key
-- is stored with a fingerprint of its request and the id of its event, in the
-- same transaction as the event, so a key exists exactly when its event does;
-- the primary key makes two racing attempts with one key wait for each other.
create table idempotency_keys (
    key text primary key,
    fingerprint text not null,
    event_id uuid not null,
    created_at timestamptz not null default now(),
    constraint idempotency_keys_key_not_too_long check (length(key) between 1 and 200)
);

comment on table idempotency_keys is
    'Idempotency keys of mutations: the request fingerprint and the event it stored.';
