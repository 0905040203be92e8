-- The triggers that turn an INSERT into an event table into a checked, applied
-- event. Row triggers fire only on the table a row is inserted into, never on
-- the parent, so every child carries them (see the loop at the end).
--
-- BEFORE INSERT (events_check): lock the pet's row, so that events on one pet
-- serialise; check the rule of the event type against the pet as it is now;
-- fill the derived columns (pet_version, created_at, old_price, species).
-- AFTER INSERT (events_apply): fold the event into `pets` and ring the doorbell.
-- Both run in the inserting transaction, so an event and its effect commit or
-- roll back together.

create function events_check() returns trigger
language plpgsql
as $$
declare
    pet pets;
    mother pets;
    lost_on date;
begin
    if new.pet_id is null then
        perform petstore_reject('VALIDATION_FAILED', 'pet_id is required', 'pet_id');
    end if;

    -- A pet that does not exist yet has no row to lock: two arrivals of one
    -- new id serialise on a transaction-scoped advisory lock on the id instead,
    -- so that the second one finds the first one's pet and is refused cleanly.
    if tg_table_name in ('pet_arrived_events', 'pet_born_events') then
        perform pg_advisory_xact_lock(hashtextextended(new.pet_id::text, 0));
    end if;

    -- Every event on one pet waits here for the one before it to commit or
    -- roll back, then checks its rule against the state that one left. Of two
    -- concurrent sales, the second sees SOLD.
    select * into pet from pets where id = new.pet_id for update;

    case tg_table_name
        when 'pet_arrived_events', 'pet_born_events' then
            if found then
                perform petstore_reject('PET_ALREADY_EXISTS',
                    format('pet %s already exists', new.pet_id), 'pet_id');
            end if;
            -- Spaces, tabs and line breaks at either end are not part of a name.
            new.name := btrim(new.name, E' \t\n\r\f\x0b');
            new.species := nullif(btrim(new.species, E' \t\n\r\f\x0b'), '');
            if tg_table_name = 'pet_born_events' then
                -- FOR SHARE keeps the mother from being sold or lost until
                -- this birth commits.
                select * into mother from pets where id = new.mother_id for share;
                if not found then
                    perform petstore_reject('MOTHER_NOT_FOUND',
                        format('mother %s does not exist', new.mother_id), 'mother_id');
                elsif mother.status <> 'AVAILABLE' then
                    perform petstore_reject('MOTHER_NOT_IN_STORE',
                        format('mother %s is %s, not AVAILABLE', new.mother_id, mother.status),
                        'mother_id');
                end if;
                new.species := coalesce(new.species, mother.species);
                if new.species <> mother.species then
                    perform petstore_reject('SPECIES_MISMATCH',
                        format('a %s cannot be born to a %s', new.species, mother.species),
                        'species');
                end if;
            end if;
            new.species := coalesce(new.species, '');

        when 'pet_sold_events' then
            if not found then
                perform petstore_reject('PET_NOT_FOUND',
                    format('pet %s does not exist', new.pet_id), 'pet_id');
            elsif pet.status <> 'AVAILABLE' then
                perform petstore_reject('PET_NOT_AVAILABLE',
                    format('pet %s is %s, not AVAILABLE', new.pet_id, pet.status), 'pet_id');
            end if;

        when 'pet_price_change_events' then
            if not found then
                perform petstore_reject('PET_NOT_FOUND',
                    format('pet %s does not exist', new.pet_id), 'pet_id');
            elsif pet.status = 'SOLD' then
                perform petstore_reject('PET_ALREADY_SOLD',
                    format('pet %s is already sold', new.pet_id), 'pet_id');
            end if;
            if new.old_price is null then
                new.old_price := pet.current_price;
            elsif new.old_price <> pet.current_price then
                perform petstore_reject('OLD_PRICE_MISMATCH',
                    format('old price %s is not the current price %s',
                        new.old_price, pet.current_price),
                    'old_price');
            end if;

        when 'pet_lost_events' then
            if not found then
                perform petstore_reject('PET_NOT_FOUND',
                    format('pet %s does not exist', new.pet_id), 'pet_id');
            elsif pet.status <> 'AVAILABLE' then
                perform petstore_reject('PET_NOT_AVAILABLE',
                    format('pet %s is %s, not AVAILABLE', new.pet_id, pet.status), 'pet_id');
            end if;

        when 'pet_found_events' then
            if not found then
                perform petstore_reject('PET_NOT_FOUND',
                    format('pet %s does not exist', new.pet_id), 'pet_id');
            elsif pet.status <> 'LOST' then
                perform petstore_reject('PET_NOT_LOST',
                    format('pet %s is %s, not LOST', new.pet_id, pet.status), 'pet_id');
            end if;
            select l.lost_date into lost_on
            from pet_lost_events l
            where l.pet_id = new.pet_id
            order by l.pet_version desc
            limit 1;
            if new.found_date < lost_on then
                perform petstore_reject('FOUND_BEFORE_LOST',
                    format('found on %s, before it was lost on %s', new.found_date, lost_on),
                    'found_date');
            end if;
    end case;

    new.pet_version := coalesce(pet.version, 0) + 1;
    -- Stamped under the lock, and always after the pet's previous event, so a
    -- pet's events are strictly in time order as well as version order and a
    -- point-in-time read folds exactly a prefix of the history.
    new.created_at := greatest(clock_timestamp(), pet.updated_at + interval '1 microsecond');
    return new;
end
$$;

create function events_apply() returns trigger
language plpgsql
as $$
declare
    pet pets;
begin
    select * into pet from pets where id = new.pet_id;
    pet := pet_fold(pet, jsonb_populate_record(null::pet_event_log, to_jsonb(new)));

    if new.pet_version = 1 then
        -- The advisory lock in events_check() makes this conflict impossible for
        -- events; it stays as the read model's own guard.
        insert into pets values (pet.*) on conflict (id) do nothing;
        if not found then
            perform petstore_reject('PET_ALREADY_EXISTS',
                format('pet %s already exists', new.pet_id), 'pet_id');
        end if;
    else
        update pets set
            name = pet.name,
            species = pet.species,
            current_price = pet.current_price,
            status = pet.status,
            customer_id = pet.customer_id,
            mother_id = pet.mother_id,
            last_event_id = pet.last_event_id,
            created_at = pet.created_at,
            updated_at = pet.updated_at,
            version = pet.version
        where id = pet.id;
    end if;

    -- A doorbell, not the data: listeners read the events from the tables.
    -- NOTIFY takes a lock at commit that every notifying transaction in the
    -- cluster shares, which at high write rates costs more than half of the
    -- append throughput (bench/subscription_bench.py). The API's sessions set
    -- petstore.notify = 'batched' and ring once per batch of appends instead
    -- (graphql_petstore.database.doorbell); any other session, psql included,
    -- notifies per event.
    if coalesce(current_setting('petstore.notify', true), '') <> 'batched' then
        perform pg_notify('petstore_events', json_build_object(
            'id', new.id, 'pet_id', new.pet_id, 'type', new.event_type)::text);
    end if;
    return null;
end
$$;

create function events_reject_change() returns trigger
language plpgsql
as $$
begin
    perform petstore_reject('EVENT_IMMUTABLE',
        format('events are immutable: %s on %s is not allowed', tg_op, tg_table_name));
    return null;
end
$$;

-- Every child of events, as the catalogue knows them: a new event type gets
-- its triggers by inheriting events, not by being added to a list here.
do $$
declare
    t regclass;
begin
    for t in select inhrelid::regclass from pg_inherits where inhparent = 'events'::regclass loop
        execute format(
            'create trigger events_check before insert on %s
                for each row execute function events_check()', t);
        execute format(
            'create trigger events_apply after insert on %s
                for each row execute function events_apply()', t);
        execute format(
            'create trigger events_immutable before update or delete on %s
                for each row execute function events_reject_change()', t);
        execute format(
            'create trigger events_no_truncate before truncate on %s
                for each statement execute function events_reject_change()', t);
    end loop;
end
$$;

create trigger events_immutable before update or delete on events
    for each row execute function events_reject_change();
create trigger events_no_truncate before truncate on events
    for each statement execute function events_reject_change();
