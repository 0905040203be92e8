-- Least privilege: the server's role (petstore_api) may append events and read
-- what it serves, and nothing else; the rules live in triggers that run as
-- the owner of the schema (petstore_owner), who alone may write `pets`.
--
-- The roles themselves are cluster-wide, so they are made (or checked) by
-- `graphql-petstore migrate` before any migration runs, which is also what
-- hands objects made by earlier migrations to petstore_owner
-- (graphql_petstore.database.roles). This file runs as petstore_owner and
-- only sets what lives in this database: how the triggers run, and who may
-- do what. Every later migration that adds an object grants petstore_api
-- exactly what it needs; new functions are no longer executable by PUBLIC.

-- 1. Trigger functions run as their owner, with a search_path fixed to the
-- schema (pg_temp last, so a session's temporary tables cannot stand in for
-- ours). petstore_api cannot write `pets` or lock its rows (SELECT … FOR
-- UPDATE needs UPDATE), but the fold and the row locks inside the triggers
-- act with the owner's rights. Found in the catalogue, not listed, so that a
-- trigger function replaced or added by an earlier migration is included.
-- (A trigger function cannot be called other than by its trigger, so
-- definer rights reach no further than the triggers.)
do $$
declare
    fn regprocedure;
begin
    for fn in
        select distinct t.tgfoid::regprocedure
        from pg_trigger t
        join pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal
            and c.relnamespace = 'public'::regnamespace
    loop
        execute format('alter function %s security definer set search_path = public, pg_temp', fn);
    end loop;
end
$$;

-- 2. Nothing is anybody's by default. Tables and sequences have no PUBLIC
-- grants unless someone added one; functions are executable by PUBLIC
-- unless revoked, and that includes pets_rebuild_begin(), pets_replayed()
-- and the like. Functions made later by petstore_owner start without it too
-- (the global default: a per-schema default can only add to it).
revoke all on all tables in schema public from public;
revoke all on all sequences in schema public from public;
revoke all on all routines in schema public from public;
alter default privileges for role petstore_owner revoke execute on routines from public;

-- 3. What the server reads: the read model, the events (through the base
-- table, each child and the log view), the idempotency keys of retried
-- mutations, and the migration ledger (/readyz).
grant select on pets, events, pet_event_log, idempotency_keys, schema_migrations
    to petstore_api;

-- 4. What the server writes: events, each into its own table, and the key
-- that makes a mutation idempotent. An event's stream position (tx_id, seq)
-- is left to the defaults, never taken from the writer: a writer that chose
-- its own tx_id could put an event behind the cursor of every subscriber,
-- who would never see it. Column privileges therefore list every other
-- column (found in the catalogue); SELECT is for INSERT … RETURNING.
do $$
declare
    t regclass;
    cols text;
begin
    for t in select inhrelid::regclass from pg_inherits where inhparent = 'events'::regclass loop
        select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into cols
        from pg_attribute a
        where a.attrelid = t and a.attnum > 0 and not a.attisdropped
            and a.attname not in ('tx_id', 'seq');
        execute format('grant select, insert (%s) on %s to petstore_api', cols, t);
    end loop;
end
$$;
grant insert on idempotency_keys to petstore_api;
-- nextval() for the seq default, which runs with the inserting role's rights.
grant usage on sequence events_seq to petstore_api;

-- 5. What the server calls: the fold over a history (pet(asOf:) and the
-- state after an event), the id default of an event, and the two functions
-- that raise a rule's error (they only raise), which the append functions of
-- sql/0020 call with the caller's rights.
grant execute on function pet_fold_all(pet_event_log), uuid_generate_v7(),
    petstore_reject(text, text, text), petstore_error_sqlstate(text) to petstore_api;

-- sql/0020 (the append functions) reached databases before this file did:
-- applied then, when petstore_api did not exist, its guarded GRANT did
-- nothing. Where it ran first, grant here what it grants.
do $$
declare
    fn regprocedure;
begin
    for fn in
        select p.oid::regprocedure from pg_proc p
        where p.pronamespace = 'public'::regnamespace
            and (p.proname in ('petstore_appended', 'petstore_claim_idempotency_key')
                 or p.proname like 'petstore\_append\_pet\_%')
    loop
        execute format('grant execute on function %s to petstore_api', fn);
    end loop;
end
$$;

-- 6. Where `serve` finds petstore_api's password when `migrate` made the role
-- itself (graphql_petstore.database.api_login): readable by petstore_owner
-- alone, like everything above that is not granted.
create table petstore_api_login (
    role name primary key,
    password text not null,
    set_at timestamptz not null default now()
);
revoke all on petstore_api_login from public;

comment on table petstore_api_login is
    'The password of a login role that `migrate` made, for `serve`; readable by petstore_owner only.';
