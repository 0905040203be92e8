-- Optimistic concurrency: an event may say which version of its pet it was
-- decided on (expected_version; 0 for a pet that does not exist yet). When
-- the pet has moved on by the time the event takes the pet's row lock, the
-- event is refused with VERSION_CONFLICT, and the DETAIL carries the version
-- the pet is actually at. Checked under the lock, in the database: two
-- clients that read version 3 cannot both append on top of it.

alter table events add column expected_version integer
    constraint events_expected_version_not_negative check (expected_version >= 0);

comment on column events.expected_version is
    'The pet version the writer expected to append to (null: no expectation).';

-- Runs after events_check() (triggers fire in name order), which has taken
-- the row lock and set pet_version to the pet's version + 1.
create function events_check_expected_version() returns trigger
language plpgsql
as $$
begin
    -- Triggers run before CHECK constraints: report a malformed value as such.
    if new.expected_version < 0 then
        perform petstore_reject('VALIDATION_FAILED',
            format('expected_version must be 0 or more, not %s', new.expected_version),
            'expected_version');
    end if;
    if new.expected_version is not null and new.expected_version <> new.pet_version - 1 then
        raise exception using
            errcode = petstore_error_sqlstate('VERSION_CONFLICT'),
            message = format(
                'VERSION_CONFLICT: expected pet %s at version %s, but it is at version %s',
                new.pet_id, new.expected_version, new.pet_version - 1),
            detail = (new.pet_version - 1)::text,
            column = 'expected_version';
    end if;
    return new;
end
$$;

do $$
declare
    t regclass;
begin
    for t in select inhrelid::regclass from pg_inherits where inhparent = 'events'::regclass loop
        execute format(
            'create trigger events_check_expected_version before insert on %s
                for each row execute function events_check_expected_version()', t);
    end loop;
end
$$;
