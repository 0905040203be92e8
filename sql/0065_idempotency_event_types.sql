-- An idempotency key names the event its first request stored, and that
-- event's type: the database, not only the server, then holds the rule that
-- a key is replayed only for the same kind of command. Until now the type
-- lived only in the fingerprint the server computes (sql/0020 compared
-- fingerprints and replayed whatever event the key named), so a server that
-- computed a fingerprint without it would answer a sale with a price change.
--
-- Two checks:
--   - claiming a key refuses it (IDEMPOTENCY_KEY_REUSED) when it was first
--     used for an event of another type, as it refuses another fingerprint;
--   - at commit, a key must name a stored event of its type. The append
--     functions store the key and the event together, so this holds for
--     them; it stops a key that names nothing, or an event of another type,
--     being inserted directly (the API's role may INSERT into this table,
--     sql/0015, because the append functions run with its rights).

alter table idempotency_keys add column event_type varchar(100);

update idempotency_keys k
set event_type = e.event_type
from events e
where e.id = k.event_id;

-- A key that names no event cannot have come from an append function (the
-- key and its event commit together) and can replay nothing: it goes.
delete from idempotency_keys where event_type is null;

alter table idempotency_keys alter column event_type set not null;

comment on column idempotency_keys.event_type is
    'The type of the event the key names: a key is replayed only for a command of that type.';

-- As every trigger function here: its owner's rights, a fixed search_path.
create function idempotency_key_names_its_event()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    if not exists (
        select from events where id = new.event_id and event_type = new.event_type
    ) then
        raise exception using
            errcode = 'integrity_constraint_violation',
            message = format('idempotency key %L names no stored %s event (%s)',
                             new.key, new.event_type, new.event_id);
    end if;
    return null;
end
$$;

-- Deferred: the append functions claim the key before they insert its event.
create constraint trigger idempotency_keys_name_their_event
    after insert on idempotency_keys
    deferrable initially deferred
    for each row execute function idempotency_key_names_its_event();

create function petstore_claim_idempotency_key(
    p_key text, p_fingerprint text, p_event_id uuid, p_event_type text)
returns uuid
language plpgsql
as $$
declare
    stored idempotency_keys;
begin
    insert into idempotency_keys (key, fingerprint, event_id, event_type)
    values (p_key, p_fingerprint, p_event_id, p_event_type)
    on conflict (key) do nothing;
    if found then
        return null;
    end if;
    select * into stored from idempotency_keys where key = p_key;
    if stored.fingerprint <> p_fingerprint or stored.event_type <> p_event_type then
        perform petstore_reject('IDEMPOTENCY_KEY_REUSED',
            'this idempotencyKey was used for a different request', 'idempotency_key');
    end if;
    return stored.event_id;
end
$$;

-- The append functions of sql/0020, unchanged but for the claim, which now
-- names the type of the event each appends.

create or replace function petstore_append_pet_arrived(
    p_id uuid, p_pet_id uuid, p_name text, p_species text, p_price numeric,
    p_metadata jsonb, p_expected_version integer, p_idempotency_key text, p_fingerprint text)
returns table (event pet_event_log, pet pets)
language plpgsql
as $$
declare
    replayed uuid;
    e pet_event_log;
    p pets;
begin
    if p_idempotency_key is not null then
        replayed := petstore_claim_idempotency_key(
            p_idempotency_key, p_fingerprint, p_id, 'PET_ARRIVED');
        if replayed is not null then
            return query select * from petstore_appended(replayed);
            return;
        end if;
    end if;
    insert into pet_arrived_events (id, pet_id, name, species, price, metadata, expected_version)
    values (p_id, p_pet_id, p_name, p_species, p_price, p_metadata, p_expected_version)
    returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
        name, species, price, null, null, null, null, null, null, null, null, null
    into e;
    select * into p from pets where id = e.pet_id;
    return query select e, p;
end
$$;

create or replace function petstore_append_pet_born(
    p_id uuid, p_pet_id uuid, p_mother_id uuid, p_name text, p_species text, p_price numeric,
    p_metadata jsonb, p_expected_version integer, p_idempotency_key text, p_fingerprint text)
returns table (event pet_event_log, pet pets)
language plpgsql
as $$
declare
    replayed uuid;
    e pet_event_log;
    p pets;
begin
    if p_idempotency_key is not null then
        replayed := petstore_claim_idempotency_key(
            p_idempotency_key, p_fingerprint, p_id, 'PET_BORN');
        if replayed is not null then
            return query select * from petstore_appended(replayed);
            return;
        end if;
    end if;
    -- A null species is the mother's: the BEFORE trigger fills it in.
    insert into pet_born_events
        (id, pet_id, mother_id, name, species, price, metadata, expected_version)
    values
        (p_id, p_pet_id, p_mother_id, p_name, p_species, p_price, p_metadata, p_expected_version)
    returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
        name, species, price, mother_id, null, null, null, null, null, null, null, null
    into e;
    select * into p from pets where id = e.pet_id;
    return query select e, p;
end
$$;

create or replace function petstore_append_pet_sold(
    p_id uuid, p_pet_id uuid, p_customer_id uuid, p_sale_price numeric,
    p_metadata jsonb, p_expected_version integer, p_idempotency_key text, p_fingerprint text)
returns table (event pet_event_log, pet pets)
language plpgsql
as $$
declare
    replayed uuid;
    e pet_event_log;
    p pets;
begin
    if p_idempotency_key is not null then
        replayed := petstore_claim_idempotency_key(
            p_idempotency_key, p_fingerprint, p_id, 'PET_SOLD');
        if replayed is not null then
            return query select * from petstore_appended(replayed);
            return;
        end if;
    end if;
    insert into pet_sold_events
        (id, pet_id, customer_id, sale_price, metadata, expected_version)
    values (p_id, p_pet_id, p_customer_id, p_sale_price, p_metadata, p_expected_version)
    returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
        null, null, null, null, customer_id, sale_price, null, null, null, null, null, null
    into e;
    select * into p from pets where id = e.pet_id;
    return query select e, p;
end
$$;

create or replace function petstore_append_pet_price_change(
    p_id uuid, p_pet_id uuid, p_new_price numeric, p_old_price numeric,
    p_metadata jsonb, p_expected_version integer, p_idempotency_key text, p_fingerprint text)
returns table (event pet_event_log, pet pets)
language plpgsql
as $$
declare
    replayed uuid;
    e pet_event_log;
    p pets;
begin
    if p_idempotency_key is not null then
        replayed := petstore_claim_idempotency_key(
            p_idempotency_key, p_fingerprint, p_id, 'PET_PRICE_CHANGE');
        if replayed is not null then
            return query select * from petstore_appended(replayed);
            return;
        end if;
    end if;
    -- A null old_price is the current price: the BEFORE trigger fills it in.
    insert into pet_price_change_events
        (id, pet_id, new_price, old_price, metadata, expected_version)
    values (p_id, p_pet_id, p_new_price, p_old_price, p_metadata, p_expected_version)
    returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
        null, null, null, null, null, null, new_price, old_price, null, null, null, null
    into e;
    select * into p from pets where id = e.pet_id;
    return query select e, p;
end
$$;

create or replace function petstore_append_pet_lost(
    p_id uuid, p_pet_id uuid, p_lost_date date, p_last_seen_location text,
    p_metadata jsonb, p_expected_version integer, p_idempotency_key text, p_fingerprint text)
returns table (event pet_event_log, pet pets)
language plpgsql
as $$
declare
    replayed uuid;
    e pet_event_log;
    p pets;
begin
    if p_idempotency_key is not null then
        replayed := petstore_claim_idempotency_key(
            p_idempotency_key, p_fingerprint, p_id, 'PET_LOST');
        if replayed is not null then
            return query select * from petstore_appended(replayed);
            return;
        end if;
    end if;
    if p_lost_date is null then
        -- Left out: the column's default (today) decides.
        insert into pet_lost_events (id, pet_id, last_seen_location, metadata, expected_version)
        values (p_id, p_pet_id, p_last_seen_location, p_metadata, p_expected_version)
        returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
            null, null, null, null, null, null, null, null, lost_date, last_seen_location,
            null, null
        into e;
    else
        insert into pet_lost_events
            (id, pet_id, lost_date, last_seen_location, metadata, expected_version)
        values
            (p_id, p_pet_id, p_lost_date, p_last_seen_location, p_metadata, p_expected_version)
        returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
            null, null, null, null, null, null, null, null, lost_date, last_seen_location,
            null, null
        into e;
    end if;
    select * into p from pets where id = e.pet_id;
    return query select e, p;
end
$$;

create or replace function petstore_append_pet_found_again(
    p_id uuid, p_pet_id uuid, p_found_date date, p_found_location text,
    p_metadata jsonb, p_expected_version integer, p_idempotency_key text, p_fingerprint text)
returns table (event pet_event_log, pet pets)
language plpgsql
as $$
declare
    replayed uuid;
    e pet_event_log;
    p pets;
begin
    if p_idempotency_key is not null then
        replayed := petstore_claim_idempotency_key(
            p_idempotency_key, p_fingerprint, p_id, 'PET_FOUND_AGAIN');
        if replayed is not null then
            return query select * from petstore_appended(replayed);
            return;
        end if;
    end if;
    if p_found_date is null then
        -- Left out: the column's default (today) decides.
        insert into pet_found_events (id, pet_id, found_location, metadata, expected_version)
        values (p_id, p_pet_id, p_found_location, p_metadata, p_expected_version)
        returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
            null, null, null, null, null, null, null, null, null, null,
            found_date, found_location
        into e;
    else
        insert into pet_found_events
            (id, pet_id, found_date, found_location, metadata, expected_version)
        values
            (p_id, p_pet_id, p_found_date, p_found_location, p_metadata, p_expected_version)
        returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
            null, null, null, null, null, null, null, null, null, null,
            found_date, found_location
        into e;
    end if;
    select * into p from pets where id = e.pet_id;
    return query select e, p;
end
$$;

-- Nothing calls the claim without a type any more.
drop function petstore_claim_idempotency_key(text, text, uuid);

-- As sql/0020: the API's role calls the claim; PUBLIC does not. The trigger
-- function is called by the trigger alone.
revoke execute on function petstore_claim_idempotency_key(text, text, uuid, text) from public;
revoke execute on function idempotency_key_names_its_event() from public;
do $$
begin
    if exists (select from pg_roles where rolname = 'petstore_api') then
        grant execute on function petstore_claim_idempotency_key(text, text, uuid, text)
            to petstore_api;
    end if;
end
$$;
