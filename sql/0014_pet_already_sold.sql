-- Selling a pet that is already sold is refused with PET_ALREADY_SOLD (PS007),
-- as a price change of a sold pet is, instead of PET_NOT_AVAILABLE (PS006).
-- The codes of sql/0004 now read:
--   PS006  PET_NOT_AVAILABLE  sale of a LOST pet, or loss of a pet that is not AVAILABLE
--   PS007  PET_ALREADY_SOLD   sale or price change of a SOLD pet
-- Both refusals come from the trigger, so psql gets the same code as the API.
-- events_check() is that of 0013 with one more branch in the sale case.

create or replace function events_check() returns trigger
language plpgsql
as $$
declare
    pet pets;
    mother pets;
    lost_on date;
begin
    case tg_table_name
        when 'pet_price_change_events' then
            -- Every event on one pet waits here for the one before it to
            -- commit or roll back, then checks its rule against the state that
            -- one left. (status is never null in pets: null means no pet.)
            -- Only the columns that the checks read: fewer to copy per event.
            select status, current_price, version, updated_at
            into pet.status, pet.current_price, pet.version, pet.updated_at
            from pets where id = new.pet_id for update;
            if pet.status is null or pet.status = 'SOLD' then
                if new.pet_id is null then
                    perform petstore_reject('VALIDATION_FAILED', 'pet_id is required', 'pet_id');
                elsif pet.status is null then
                    perform petstore_reject('PET_NOT_FOUND',
                        format('pet %s does not exist', new.pet_id), 'pet_id');
                end if;
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

        when 'pet_sold_events', 'pet_lost_events' then
            select status, version, updated_at into pet.status, pet.version, pet.updated_at
            from pets where id = new.pet_id for update;
            if pet.status is distinct from 'AVAILABLE' then
                if new.pet_id is null then
                    perform petstore_reject('VALIDATION_FAILED', 'pet_id is required', 'pet_id');
                elsif pet.status is null then
                    perform petstore_reject('PET_NOT_FOUND',
                        format('pet %s does not exist', new.pet_id), 'pet_id');
                elsif pet.status = 'SOLD' and tg_table_name = 'pet_sold_events' then
                    perform petstore_reject('PET_ALREADY_SOLD',
                        format('pet %s is already sold', new.pet_id), 'pet_id');
                end if;
                perform petstore_reject('PET_NOT_AVAILABLE',
                    format('pet %s is %s, not AVAILABLE', new.pet_id, pet.status), 'pet_id');
            end if;

        when 'pet_found_events' then
            select status, version, updated_at into pet.status, pet.version, pet.updated_at
            from pets where id = new.pet_id for update;
            if pet.status is distinct from 'LOST' then
                if new.pet_id is null then
                    perform petstore_reject('VALIDATION_FAILED', 'pet_id is required', 'pet_id');
                elsif pet.status is null then
                    perform petstore_reject('PET_NOT_FOUND',
                        format('pet %s does not exist', new.pet_id), 'pet_id');
                end if;
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

        else
            -- Arrivals and births. A pet that does not exist yet has no row to
            -- lock: two arrivals of one new id serialise on a
            -- transaction-scoped advisory lock on the id instead, so that the
            -- second one finds the first one's pet and is refused cleanly.
            if new.pet_id is null then
                perform petstore_reject('VALIDATION_FAILED', 'pet_id is required', 'pet_id');
            end if;
            perform pg_advisory_xact_lock(hashtextextended(new.pet_id::text, 0));
            select status into pet.status from pets where id = new.pet_id for update;
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
    end case;

    new.pet_version := coalesce(pet.version, 0) + 1;
    -- Stamped under the lock, and always after the pet's previous event, so a
    -- pet's events are strictly in time order as well as version order and a
    -- point-in-time read folds exactly a prefix of the history.
    new.created_at := greatest(clock_timestamp(), pet.updated_at + interval '1 microsecond');

    -- Optimistic concurrency (0010), checked under the lock after the rule.
    -- Triggers run before CHECK constraints: report a malformed value as such.
    if new.expected_version is not null then
        if new.expected_version < 0 then
            perform petstore_reject('VALIDATION_FAILED',
                format('expected_version must be 0 or more, not %s', new.expected_version),
                'expected_version');
        elsif new.expected_version <> new.pet_version - 1 then
            raise exception using
                errcode = petstore_error_sqlstate('VERSION_CONFLICT'),
                message = format(
                    'VERSION_CONFLICT: expected pet %s at version %s, but it is at version %s',
                    new.pet_id, new.expected_version, new.pet_version - 1),
                detail = (new.pet_version - 1)::text,
                column = 'expected_version';
        end if;
    end if;
    return new;
end
$$;
