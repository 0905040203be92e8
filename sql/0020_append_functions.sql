-- Appending an event in one statement: the INSERT (checked and folded by the
-- triggers), its idempotency key, and what the caller answers with — the
-- stored event and the pet as that event left it — in one round trip and one
-- transaction. A client is told an append failed only if nothing was stored;
-- with one statement the outcome is known whenever the answer arrives, and
-- when the connection breaks first, petstore_appended(event id) tells whether
-- it committed (the server makes every event id before it sends the event).
--
-- The pet is read inside the function, after the INSERT: the BEFORE trigger
-- holds the pet's row lock until commit, so no other event can have moved it
-- on, and a statement inside a function sees the function's own writes (the
-- outer statement's snapshot, taken before the INSERT, would not).
--
-- Every function here runs with the caller's rights (security invoker): the
-- caller needs INSERT on the event table, and the triggers do the rest with
-- their owner's.

-- The event with this id and the pet as that event left it; no row when no
-- such event exists. For idempotent replays and for settling an append whose
-- connection broke before its answer arrived.
create function petstore_appended(p_event_id uuid)
returns table (event pet_event_log, pet pets)
language sql stable
as $$
    select e, (
        select case
            when now_.version = e.pet_version then now_
            else (
                select pet_fold_all(h order by h.pet_version)
                from pet_event_log h
                where h.pet_id = e.pet_id and h.pet_version <= e.pet_version
            )
        end
        from pets now_
        where now_.id = e.pet_id
    )
    from pet_event_log e
    where e.id = p_event_id
$$;

-- Claims an idempotency key for the event p_event_id. Returns null when the
-- key is new (the caller then appends its event, in the same transaction, so
-- that the key and the event commit together); else the id of the event the
-- key was first used for. A second attempt with the key waits on the key's
-- primary key until the first commits (then finds it) or rolls back (then
-- claims it). The same key for a different request is refused.
create function petstore_claim_idempotency_key(p_key text, p_fingerprint text, p_event_id uuid)
returns uuid
language plpgsql
as $$
declare
    stored idempotency_keys;
begin
    insert into idempotency_keys (key, fingerprint, event_id)
    values (p_key, p_fingerprint, p_event_id)
    on conflict (key) do nothing;
    if found then
        return null;
    end if;
    select * into stored from idempotency_keys where key = p_key;
    if stored.fingerprint <> p_fingerprint then
        perform petstore_reject('IDEMPOTENCY_KEY_REUSED',
            'this idempotencyKey was used for a different request', 'idempotency_key');
    end if;
    return stored.event_id;
end
$$;

-- One function per event type, with typed parameters. Each: claim the key
-- (if any) or replay what it stored; else INSERT, returning the stored row as
-- a pet_event_log row (its payload columns, nulls elsewhere), and read the pet.

create function petstore_append_pet_arrived(
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
        replayed := petstore_claim_idempotency_key(p_idempotency_key, p_fingerprint, p_id);
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

create function petstore_append_pet_born(
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
        replayed := petstore_claim_idempotency_key(p_idempotency_key, p_fingerprint, p_id);
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

create function petstore_append_pet_sold(
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
        replayed := petstore_claim_idempotency_key(p_idempotency_key, p_fingerprint, p_id);
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

create function petstore_append_pet_price_change(
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
        replayed := petstore_claim_idempotency_key(p_idempotency_key, p_fingerprint, p_id);
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

create function petstore_append_pet_lost(
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
        replayed := petstore_claim_idempotency_key(p_idempotency_key, p_fingerprint, p_id);
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

create function petstore_append_pet_found_again(
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
        replayed := petstore_claim_idempotency_key(p_idempotency_key, p_fingerprint, p_id);
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

-- The API's role calls these (sql/0015 creates it); PUBLIC does not.
do $$
declare
    f regprocedure;
begin
    for f in
        select p.oid::regprocedure from pg_proc p
        where p.proname in ('petstore_appended', 'petstore_claim_idempotency_key')
           or p.proname like 'petstore\_append\_pet\_%'
    loop
        execute format('revoke execute on function %s from public', f);
        if exists (select from pg_roles where rolname = 'petstore_api') then
            execute format('grant execute on function %s to petstore_api', f);
        end if;
    end loop;
end
$$;
