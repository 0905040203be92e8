-- The same rules for less work per appended event (0061 to 0063, one change
-- in three files). The CHECK constraints of the event tables (here) and of
-- `pets` (0063), and the WHEN clauses of two triggers, become tests in the
-- triggers that run on every write anyway, and each event type gets trigger
-- functions of its own (its checks here, its fold in 0062) in place of one
-- function that dispatched on the table. Nothing a client sees changes: a
-- value that broke a CHECK constraint is refused with the same SQLSTATE
-- (23514), constraint name, table and message (without PostgreSQL's
-- DETAIL, which lists the row), after the rules and the version check, and
-- of several the first by name, as PostgreSQL tests constraints; the API
-- maps it to VALIDATION_FAILED as before. This file must sort after 0040
-- and 0060, whose constraints and trigger it replaces.
--
-- Why. PostgreSQL keeps a CHECK constraint and a trigger's WHEN clause as
-- node text in the catalog, and each statement that writes the table reads
-- that text back into an expression and plans it again (ExecRelCheck and
-- TriggerEnabled, once per executor state). An append is one row in two
-- statements, the INSERT and the fold's UPDATE of `pets`, so its 9
-- constraints and 2 WHEN clauses were compiled for that one row every time.
-- PL/pgSQL plans its expressions once per session but sets each up again
-- in every transaction, at a cost that grows with its size, and an append
-- is one transaction: so the way through a trigger is a few small
-- expressions (one test says whether anything is wrong), and the rest
-- (which rule or constraint failed, an expected version, backdating) runs
-- only when needed.
--
-- Instructions per price change (bench/append_instructions_bench.py:
-- callgrind, PostgreSQL 18, one session in steady state, one transaction
-- per append):
--
--   0001-0060                                  507,000
--   without the 6 CHECKs of the event           416,000
--   and the 3 CHECKs of pets                   348,000
--   and the 2 WHEN clauses (no tests at all)   293,000
--   0061-0063                                  323,000
--   the prototype's trigger                    154,000
--
-- Where each rule now lives:
--   * <type>_check() (pet_price_change_check(), ...), BEFORE INSERT on the
--     event's table: the rules of 0014's events_check() for that table, the
--     derived columns, the expected version, backdating (0060, where a
--     second trigger with a WHEN clause was), and the table's values
--     (prices, names, the mother, locations, dates, metadata, the event
--     type). Two constraints go without a test, as the trigger decides them
--     itself: events_pet_version_positive (it sets pet_version to the pet's
--     version + 1) and events_expected_version_not_negative (it refuses a
--     negative expected_version, as VALIDATION_FAILED, before the
--     constraint could).
--   * <type>_apply(), AFTER INSERT: the fold, as 0013's events_apply() (0062).
--     The triggers keep their names, events_check and events_apply.
--   * pets_guard(), BEFORE INSERT OR UPDATE on `pets` (0063): the read-only
--     guard and the three invariants that were pets' CHECK constraints.
--
-- NULL passes a test as it passes a CHECK constraint (only false fails);
-- NOT NULL stays the columns' own constraint, which PostgreSQL tests after
-- the triggers, so a row that breaks both a NOT NULL and a test is now
-- refused for the test, where PostgreSQL named the NOT NULL first. The tests
-- apply to new rows, as 0040's NOT VALID constraints did; the stored rows
-- passed the constraints, and events cannot be changed (events_immutable).

-- Raises the error PostgreSQL raises for a failed CHECK constraint.
create function petstore_check_violation(relation text, constraint_name text)
returns void
language plpgsql
as $$
begin
    raise exception using
        errcode = 'check_violation',
        message = format('new row for relation "%s" violates check constraint "%s"',
            relation, constraint_name),
        schema = 'public',
        table = relation,
        constraint = constraint_name;
end
$$;

-- events_metadata_is_object, the first test of every event table.
create function events_check_metadata(relation text, metadata jsonb) returns void
language plpgsql
as $$
begin
    if (jsonb_typeof(metadata) = 'object') is false then
        perform petstore_check_violation(relation, 'events_metadata_is_object');
    end if;
end
$$;

-- Optimistic concurrency (0010), checked under the pet's lock after the
-- rule, for an event that names the version it expects the pet to be at.
create function events_check_version(pet_id uuid, expected integer, pet_version integer)
returns void
language plpgsql
as $$
begin
    if expected < 0 then
        perform petstore_reject('VALIDATION_FAILED',
            format('expected_version must be 0 or more, not %s', expected),
            'expected_version');
    elsif expected <> pet_version - 1 then
        raise exception using
            errcode = petstore_error_sqlstate('VERSION_CONFLICT'),
            message = format(
                'VERSION_CONFLICT: expected pet %s at version %s, but it is at version %s',
                pet_id, expected, pet_version - 1),
            detail = (pet_version - 1)::text,
            column = 'expected_version';
    end if;
end
$$;

-- The pet an event is about must be named and must exist (`status` is its
-- status in pets, NULL when there is no such pet). Called once an event is
-- known to be refused, to say why in the rules' order.
create function events_check_pet(pet_id uuid, status text) returns void
language plpgsql
as $$
begin
    if pet_id is null then
        perform petstore_reject('VALIDATION_FAILED', 'pet_id is required', 'pet_id');
    elsif status is null then
        perform petstore_reject('PET_NOT_FOUND', format('pet %s does not exist', pet_id),
            'pet_id');
    end if;
end
$$;

-- Demo histories spread over past days (0060), for a session that sets
-- petstore.backdate (a timestamptz) and petstore.backdate_span (an interval,
-- default 0): a random instant of that window instead of `stamped`, still
-- after the pet's previous event (`previous`, NULL for a new pet) and never
-- in the future. Only a login that may act as petstore_owner backdates
-- (seed runs as the owner); for any other, whatever it sets, `stamped`.
create function events_backdated(previous timestamptz, stamped timestamptz)
returns timestamptz
language plpgsql
as $$
begin
    if not pg_has_role(session_user, 'petstore_owner', 'usage') then
        return stamped;
    end if;
    return greatest(
        least(
            current_setting('petstore.backdate')::timestamptz + random()
                * coalesce(nullif(current_setting('petstore.backdate_span', true), ''),
                    '0')::interval,
            clock_timestamp()),
        coalesce(previous + interval '1 microsecond', '-infinity'));
end
$$;

-- The checks of each event type (BEFORE INSERT on its table). Each is
-- 0014's events_check() for its table, in the same order: the rule under
-- the pet's lock, the derived columns, the expected version, then the
-- values that were CHECK constraints. The event is stamped under the lock,
-- and always after the pet's previous event, so that a pet's events are
-- strictly in time order as well as version order and a point-in-time read
-- folds exactly a prefix of the history.
--
-- One test first says whether anything is wrong with the event; only when
-- something is are the rules and values tested one by one, to refuse the
-- event for the first that fails. PL/pgSQL sets each expression up again
-- in every transaction, at a cost that grows with its size, and an append
-- is one transaction: the way through is a few small expressions.

create function pet_price_change_check() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    pet pets;
begin
    -- Every event on one pet waits here for the one before it to commit or
    -- roll back, then checks its rule against the state that one left.
    -- (status is never null in pets: null means no pet.) An omitted
    -- old_price is the current price.
    select status, current_price, updated_at, version + 1,
        coalesce(new.old_price, current_price)
    into pet.status, pet.current_price, pet.updated_at, new.pet_version, new.old_price
    from pets where id = new.pet_id for update;
    -- (old_price is not negative when it is the current price.)
    if (pet.status <> 'SOLD' and new.old_price = pet.current_price
        and new.expected_version is null and jsonb_typeof(new.metadata) = 'object'
        and new.new_price >= 0 and new.event_type = 'PET_PRICE_CHANGE') is not true then
        if pet.status is null or pet.status = 'SOLD' then
            perform events_check_pet(new.pet_id, pet.status);
            perform petstore_reject('PET_ALREADY_SOLD',
                format('pet %s is already sold', new.pet_id), 'pet_id');
        end if;
        if new.old_price <> pet.current_price then
            perform petstore_reject('OLD_PRICE_MISMATCH',
                format('old price %s is not the current price %s',
                    new.old_price, pet.current_price),
                'old_price');
        end if;
        if new.expected_version is not null then
            perform events_check_version(new.pet_id, new.expected_version, new.pet_version);
        end if;
        perform events_check_metadata(tg_table_name, new.metadata);
        if (new.new_price >= 0) is false then
            perform petstore_check_violation(tg_table_name,
                'pet_price_change_events_new_price_not_negative');
        elsif (new.old_price >= 0) is false then
            perform petstore_check_violation(tg_table_name,
                'pet_price_change_events_old_price_not_negative');
        elsif (new.event_type = 'PET_PRICE_CHANGE') is false then
            perform petstore_check_violation(tg_table_name, 'pet_price_change_events_type');
        end if;
    end if;
    new.created_at := greatest(clock_timestamp(), pet.updated_at + interval '1 microsecond');
    if current_setting('petstore.backdate', true) <> '' then
        new.created_at := events_backdated(pet.updated_at, new.created_at);
    end if;
    return new;
end
$$;

-- Sales and losses: the pet must be AVAILABLE.
create function pet_sold_check() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    pet pets;
begin
    select status, updated_at, version + 1 into pet.status, pet.updated_at, new.pet_version
    from pets where id = new.pet_id for update;
    if (pet.status = 'AVAILABLE' and new.expected_version is null
        and jsonb_typeof(new.metadata) = 'object' and new.sale_price >= 0
        and new.event_type = 'PET_SOLD') is not true then
        if pet.status is distinct from 'AVAILABLE' then
            perform events_check_pet(new.pet_id, pet.status);
            if pet.status = 'SOLD' then
                perform petstore_reject('PET_ALREADY_SOLD',
                    format('pet %s is already sold', new.pet_id), 'pet_id');
            end if;
            perform petstore_reject('PET_NOT_AVAILABLE',
                format('pet %s is %s, not AVAILABLE', new.pet_id, pet.status), 'pet_id');
        end if;
        if new.expected_version is not null then
            perform events_check_version(new.pet_id, new.expected_version, new.pet_version);
        end if;
        perform events_check_metadata(tg_table_name, new.metadata);
        if (new.sale_price >= 0) is false then
            perform petstore_check_violation(tg_table_name,
                'pet_sold_events_sale_price_not_negative');
        elsif (new.event_type = 'PET_SOLD') is false then
            perform petstore_check_violation(tg_table_name, 'pet_sold_events_type');
        end if;
    end if;
    new.created_at := greatest(clock_timestamp(), pet.updated_at + interval '1 microsecond');
    if current_setting('petstore.backdate', true) <> '' then
        new.created_at := events_backdated(pet.updated_at, new.created_at);
    end if;
    return new;
end
$$;

create function pet_lost_check() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    pet pets;
begin
    select status, updated_at, version + 1 into pet.status, pet.updated_at, new.pet_version
    from pets where id = new.pet_id for update;
    -- Dates a pet could have been lost on: from 1900 to tomorrow (UTC), a
    -- day ahead for the zones ahead of UTC (0040). (No location is no test.)
    if (pet.status = 'AVAILABLE' and new.expected_version is null
        and jsonb_typeof(new.metadata) = 'object'
        and coalesce(length(new.last_seen_location), 0) <= 1000
        and new.lost_date >= date '1900-01-01'
        and new.lost_date <= (statement_timestamp() at time zone 'UTC')::date + 1
        and new.event_type = 'PET_LOST') is not true then
        if pet.status is distinct from 'AVAILABLE' then
            perform events_check_pet(new.pet_id, pet.status);
            perform petstore_reject('PET_NOT_AVAILABLE',
                format('pet %s is %s, not AVAILABLE', new.pet_id, pet.status), 'pet_id');
        end if;
        if new.expected_version is not null then
            perform events_check_version(new.pet_id, new.expected_version, new.pet_version);
        end if;
        perform events_check_metadata(tg_table_name, new.metadata);
        if (length(new.last_seen_location) <= 1000) is false then
            perform petstore_check_violation(tg_table_name,
                'pet_lost_events_last_seen_location_not_too_long');
        elsif (new.lost_date >= date '1900-01-01'
            and new.lost_date <= (statement_timestamp() at time zone 'UTC')::date + 1)
            is false then
            perform petstore_check_violation(tg_table_name,
                'pet_lost_events_lost_date_plausible');
        elsif (new.event_type = 'PET_LOST') is false then
            perform petstore_check_violation(tg_table_name, 'pet_lost_events_type');
        end if;
    end if;
    new.created_at := greatest(clock_timestamp(), pet.updated_at + interval '1 microsecond');
    if current_setting('petstore.backdate', true) <> '' then
        new.created_at := events_backdated(pet.updated_at, new.created_at);
    end if;
    return new;
end
$$;

-- Found again: the pet must be LOST, and found no earlier than it was lost.
create function pet_found_check() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    pet pets;
    lost_on date;
begin
    select status, updated_at, version + 1 into pet.status, pet.updated_at, new.pet_version
    from pets where id = new.pet_id for update;
    if pet.status is distinct from 'LOST' then
        perform events_check_pet(new.pet_id, pet.status);
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
    if new.expected_version is not null then
        perform events_check_version(new.pet_id, new.expected_version, new.pet_version);
    end if;
    if (jsonb_typeof(new.metadata) = 'object'
        and new.found_date >= date '1900-01-01'
        and new.found_date <= (statement_timestamp() at time zone 'UTC')::date + 1
        and length(new.found_location) <= 1000
        and new.event_type = 'PET_FOUND_AGAIN') is false then
        perform events_check_metadata(tg_table_name, new.metadata);
        if (new.found_date >= date '1900-01-01'
            and new.found_date <= (statement_timestamp() at time zone 'UTC')::date + 1)
            is false then
            perform petstore_check_violation(tg_table_name,
                'pet_found_events_found_date_plausible');
        elsif (length(new.found_location) <= 1000) is false then
            perform petstore_check_violation(tg_table_name,
                'pet_found_events_found_location_not_too_long');
        end if;
        perform petstore_check_violation(tg_table_name, 'pet_found_events_type');
    end if;
    new.created_at := greatest(clock_timestamp(), pet.updated_at + interval '1 microsecond');
    if current_setting('petstore.backdate', true) <> '' then
        new.created_at := events_backdated(pet.updated_at, new.created_at);
    end if;
    return new;
end
$$;

-- Arrivals and births. A pet that does not exist yet has no row to lock:
-- two arrivals of one new id serialise on a transaction-scoped advisory
-- lock on the id instead, so that the second one finds the first one's pet
-- and is refused cleanly. Spaces, tabs and line breaks at either end are not
-- part of a name or a species.
create function pet_arrived_check() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    if new.pet_id is null then
        perform petstore_reject('VALIDATION_FAILED', 'pet_id is required', 'pet_id');
    end if;
    perform pg_advisory_xact_lock(hashtextextended(new.pet_id::text, 0));
    perform from pets where id = new.pet_id for update;
    if found then
        perform petstore_reject('PET_ALREADY_EXISTS',
            format('pet %s already exists', new.pet_id), 'pet_id');
    end if;
    new.name := btrim(new.name, E' \t\n\r\f\x0b');
    new.species := coalesce(btrim(new.species, E' \t\n\r\f\x0b'), '');
    new.pet_version := 1;
    if new.expected_version is not null then
        perform events_check_version(new.pet_id, new.expected_version, new.pet_version);
    end if;
    if (jsonb_typeof(new.metadata) = 'object' and new.name <> '' and new.price >= 0
        and new.species <> '' and new.event_type = 'PET_ARRIVED') is false then
        perform events_check_metadata(tg_table_name, new.metadata);
        if (new.name <> '') is false then
            perform petstore_check_violation(tg_table_name, 'pet_arrived_events_name_not_blank');
        elsif (new.price >= 0) is false then
            perform petstore_check_violation(tg_table_name,
                'pet_arrived_events_price_not_negative');
        elsif (new.species <> '') is false then
            perform petstore_check_violation(tg_table_name,
                'pet_arrived_events_species_not_blank');
        end if;
        perform petstore_check_violation(tg_table_name, 'pet_arrived_events_type');
    end if;
    new.created_at := clock_timestamp();
    if current_setting('petstore.backdate', true) <> '' then
        new.created_at := events_backdated(null, new.created_at);
    end if;
    return new;
end
$$;

create function pet_born_check() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    mother pets;
begin
    if new.pet_id is null then
        perform petstore_reject('VALIDATION_FAILED', 'pet_id is required', 'pet_id');
    end if;
    perform pg_advisory_xact_lock(hashtextextended(new.pet_id::text, 0));
    perform from pets where id = new.pet_id for update;
    if found then
        perform petstore_reject('PET_ALREADY_EXISTS',
            format('pet %s already exists', new.pet_id), 'pet_id');
    end if;
    new.name := btrim(new.name, E' \t\n\r\f\x0b');
    new.species := nullif(btrim(new.species, E' \t\n\r\f\x0b'), '');
    -- FOR SHARE keeps the mother from being sold or lost until this birth
    -- commits.
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
            format('a %s cannot be born to a %s', new.species, mother.species), 'species');
    end if;
    new.species := coalesce(new.species, '');
    new.pet_version := 1;
    if new.expected_version is not null then
        perform events_check_version(new.pet_id, new.expected_version, new.pet_version);
    end if;
    if (jsonb_typeof(new.metadata) = 'object' and new.name <> ''
        and new.mother_id <> new.pet_id and new.price >= 0 and new.species <> ''
        and new.event_type = 'PET_BORN') is false then
        perform events_check_metadata(tg_table_name, new.metadata);
        if (new.name <> '') is false then
            perform petstore_check_violation(tg_table_name, 'pet_born_events_name_not_blank');
        elsif (new.mother_id <> new.pet_id) is false then
            perform petstore_check_violation(tg_table_name, 'pet_born_events_not_own_mother');
        elsif (new.price >= 0) is false then
            perform petstore_check_violation(tg_table_name, 'pet_born_events_price_not_negative');
        elsif (new.species <> '') is false then
            perform petstore_check_violation(tg_table_name,
                'pet_born_events_species_not_blank');
        end if;
        perform petstore_check_violation(tg_table_name, 'pet_born_events_type');
    end if;
    new.created_at := clock_timestamp();
    if current_setting('petstore.backdate', true) <> '' then
        new.created_at := events_backdated(null, new.created_at);
    end if;
    return new;
end
$$;

-- The BEFORE triggers keep their name, events_check, and call their
-- table's function; backdating is part of it (0060's trigger goes).
do $$
declare
    t regclass;
begin
    for t in select inhrelid::regclass from pg_inherits where inhparent = 'events'::regclass loop
        execute format('drop trigger events_check on %s', t);
        execute format('create trigger events_check before insert on %s
            for each row execute function %s_check()', t, regexp_replace(t::text, '_events$', ''));
        execute format('drop trigger zz_events_backdate on %s', t);
    end loop;
end
$$;
drop function events_check();
drop function events_backdate();

alter table events
    drop constraint events_metadata_is_object,
    drop constraint events_pet_version_positive,
    drop constraint events_expected_version_not_negative;
alter table pet_arrived_events
    drop constraint pet_arrived_events_type,
    drop constraint pet_arrived_events_name_not_blank,
    drop constraint pet_arrived_events_species_not_blank,
    drop constraint pet_arrived_events_price_not_negative;
alter table pet_born_events
    drop constraint pet_born_events_type,
    drop constraint pet_born_events_name_not_blank,
    drop constraint pet_born_events_species_not_blank,
    drop constraint pet_born_events_price_not_negative,
    drop constraint pet_born_events_not_own_mother;
alter table pet_sold_events
    drop constraint pet_sold_events_type,
    drop constraint pet_sold_events_sale_price_not_negative;
alter table pet_price_change_events
    drop constraint pet_price_change_events_type,
    drop constraint pet_price_change_events_new_price_not_negative,
    drop constraint pet_price_change_events_old_price_not_negative;
alter table pet_lost_events
    drop constraint pet_lost_events_type,
    drop constraint pet_lost_events_last_seen_location_not_too_long,
    drop constraint pet_lost_events_lost_date_plausible;
alter table pet_found_events
    drop constraint pet_found_events_type,
    drop constraint pet_found_events_found_location_not_too_long,
    drop constraint pet_found_events_found_date_plausible;
