-- The fold applied by one function per event type (part of the change of
-- 0061, which says why): each is 0013's events_apply() for its table,
-- without the test of the table's name that chose the branch, and the
-- doorbell of a session that is not batched in a function of its own.

-- A doorbell, not the data (see 0006): the API's sessions set
-- petstore.notify = 'batched' and ring once per batch of appends; any other
-- session, psql included, notifies per event.
create function events_ring(id uuid, pet_id uuid, event_type text) returns void
language sql
as $$
    select pg_notify('petstore_events',
        json_build_object('id', id, 'pet_id', pet_id, 'type', event_type)::text)
$$;

-- Each names its event type as a constant and lists the columns of
-- pet_event_log in the view's order, so the planner reduces pet_fold() to
-- that type's assignments (0013).

create function pet_price_change_apply() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    update pets p set (id, name, species, current_price, status, customer_id, mother_id,
            last_event_id, created_at, updated_at, version)
        = row((pet_fold(p, row(new.id, new.created_at, 'PET_PRICE_CHANGE', new.metadata,
            new.pet_id, new.pet_version, new.tx_id, new.seq,
            null, null, null, null, null, null, new.new_price, new.old_price,
            null, null, null, null)::pet_event_log)).*)
    where p.id = new.pet_id;
    if current_setting('petstore.notify', true) is distinct from 'batched' then
        perform events_ring(new.id, new.pet_id, new.event_type);
    end if;
    return null;
end
$$;

create function pet_sold_apply() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    update pets p set (id, name, species, current_price, status, customer_id, mother_id,
            last_event_id, created_at, updated_at, version)
        = row((pet_fold(p, row(new.id, new.created_at, 'PET_SOLD', new.metadata,
            new.pet_id, new.pet_version, new.tx_id, new.seq,
            null, null, null, null, new.customer_id, new.sale_price, null, null,
            null, null, null, null)::pet_event_log)).*)
    where p.id = new.pet_id;
    if current_setting('petstore.notify', true) is distinct from 'batched' then
        perform events_ring(new.id, new.pet_id, new.event_type);
    end if;
    return null;
end
$$;

create function pet_lost_apply() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    update pets p set (id, name, species, current_price, status, customer_id, mother_id,
            last_event_id, created_at, updated_at, version)
        = row((pet_fold(p, row(new.id, new.created_at, 'PET_LOST', new.metadata,
            new.pet_id, new.pet_version, new.tx_id, new.seq,
            null, null, null, null, null, null, null, null,
            new.lost_date, new.last_seen_location, null, null)::pet_event_log)).*)
    where p.id = new.pet_id;
    if current_setting('petstore.notify', true) is distinct from 'batched' then
        perform events_ring(new.id, new.pet_id, new.event_type);
    end if;
    return null;
end
$$;

create function pet_found_apply() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    update pets p set (id, name, species, current_price, status, customer_id, mother_id,
            last_event_id, created_at, updated_at, version)
        = row((pet_fold(p, row(new.id, new.created_at, 'PET_FOUND_AGAIN', new.metadata,
            new.pet_id, new.pet_version, new.tx_id, new.seq,
            null, null, null, null, null, null, null, null,
            null, null, new.found_date, new.found_location)::pet_event_log)).*)
    where p.id = new.pet_id;
    if current_setting('petstore.notify', true) is distinct from 'batched' then
        perform events_ring(new.id, new.pet_id, new.event_type);
    end if;
    return null;
end
$$;

create function pet_arrived_apply() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    -- The advisory lock of the check makes a conflict impossible
    -- for events; it stays as the read model's own guard.
    insert into pets
    select (pet_fold(null, row(new.id, new.created_at, 'PET_ARRIVED', new.metadata,
        new.pet_id, new.pet_version, new.tx_id, new.seq,
        new.name, new.species, new.price, null, null, null, null, null,
        null, null, null, null)::pet_event_log)).*
    on conflict (id) do nothing;
    if not found then
        perform petstore_reject('PET_ALREADY_EXISTS',
            format('pet %s already exists', new.pet_id), 'pet_id');
    end if;
    if current_setting('petstore.notify', true) is distinct from 'batched' then
        perform events_ring(new.id, new.pet_id, new.event_type);
    end if;
    return null;
end
$$;

create function pet_born_apply() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    insert into pets
    select (pet_fold(null, row(new.id, new.created_at, 'PET_BORN', new.metadata,
        new.pet_id, new.pet_version, new.tx_id, new.seq,
        new.name, new.species, new.price, new.mother_id, null, null, null, null,
        null, null, null, null)::pet_event_log)).*
    on conflict (id) do nothing;
    if not found then
        perform petstore_reject('PET_ALREADY_EXISTS',
            format('pet %s already exists', new.pet_id), 'pet_id');
    end if;
    if current_setting('petstore.notify', true) is distinct from 'batched' then
        perform events_ring(new.id, new.pet_id, new.event_type);
    end if;
    return null;
end
$$;

-- The AFTER triggers keep their name, events_apply, and call their table's
-- function.
do $$
declare
    t regclass;
begin
    for t in select inhrelid::regclass from pg_inherits where inhparent = 'events'::regclass loop
        execute format('drop trigger events_apply on %s', t);
        execute format('create trigger events_apply after insert on %s
            for each row execute function %s_apply()', t, regexp_replace(t::text, '_events$', ''));
    end loop;
end
$$;
drop function events_apply();
