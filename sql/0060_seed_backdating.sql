-- Demo histories spread over past days (`graphql-petstore seed --days D`).
--
-- events_check stamps every event with the clock (and after the pet's
-- previous event), so a history written through the rules all happens
-- "now". A session that sets petstore.backdate (a timestamptz) and
-- petstore.backdate_span (an interval, default 0) has its events stamped at
-- a random instant of that window instead, still:
--   * after the pet's previous event (a pet's events stay in time order, so
--     pet(asOf:) folds a prefix of its history), and
--   * never in the future.
-- Every rule still applies: this trigger only moves created_at, and it runs
-- after events_check (BEFORE triggers fire in name order), which has taken
-- the pet's row lock. Only a login that may act as petstore_owner (seed runs
-- as the owner) backdates; the API's login, whatever its name and whatever it
-- sets, may not (serve refuses an API login that can act as the owner).
-- The WHEN clause keeps the cost away from every other insert: the function
-- is not called unless the setting is there.

create function events_backdate() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    wanted timestamptz;
    span interval := coalesce(nullif(current_setting('petstore.backdate_span', true), ''), '0')::interval;
    previous timestamptz;
begin
    if not pg_has_role(session_user, 'petstore_owner', 'usage') then
        return new;
    end if;
    wanted := current_setting('petstore.backdate')::timestamptz + random() * span;
    select p.updated_at into previous from pets p where p.id = new.pet_id;
    new.created_at := greatest(
        least(wanted, clock_timestamp()),
        coalesce(previous + interval '1 microsecond', '-infinity')
    );
    return new;
end
$$;

do $$
declare
    t regclass;
begin
    for t in select inhrelid::regclass from pg_inherits where inhparent = 'events'::regclass loop
        execute format(
            'create trigger zz_events_backdate before insert on %s
                for each row
                when (coalesce(current_setting(''petstore.backdate'', true), '''') <> '''')
                execute function events_backdate()', t);
    end loop;
end
$$;
