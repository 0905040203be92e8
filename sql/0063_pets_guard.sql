-- The read model's invariants, tested by a trigger instead of CHECK
-- constraints (part of the change of 0061, which says why).

-- The read model's guard on inserts and updates: `pets` is written by the
-- fold (an event trigger, so depth 2 here) or by a rebuild
-- (petstore.rebuilding, 0012) and by nothing else, and whatever writes it
-- leaves each pet in a state the fold can leave it in (these were pets'
-- CHECK constraints). Deletes keep pets_read_only and its function (0007),
-- without the WHEN clause that 0013 gave it: only a rebuild deletes.
create function pets_guard() returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    -- (Nested: the fold's writes set up and run the first test only.)
    if pg_trigger_depth() < 2 then
        if current_setting('petstore.rebuilding', true) is distinct from 'on' then
            perform petstore_reject('READ_MODEL_READ_ONLY',
                format('pets is a read model: %s it by recording an event instead',
                    lower(tg_op)));
        end if;
    end if;
    if (((new.status)::text = 'SOLD') = (new.customer_id is not null)
        and new.status in ('AVAILABLE', 'SOLD', 'LOST')
        and new.version > 0) is false then
        if (((new.status)::text = 'SOLD') = (new.customer_id is not null)) is false then
            perform petstore_check_violation('pets', 'pets_sold_has_customer');
        elsif (new.status in ('AVAILABLE', 'SOLD', 'LOST')) is false then
            perform petstore_check_violation('pets', 'pets_status');
        end if;
        perform petstore_check_violation('pets', 'pets_version_positive');
    end if;
    return new;
end
$$;

drop trigger pets_read_only on pets;
create trigger pets_read_only before delete on pets
    for each row execute function pets_reject_direct_write();
create trigger pets_guard before insert or update on pets
    for each row execute function pets_guard();

alter table pets
    drop constraint pets_sold_has_customer,
    drop constraint pets_status,
    drop constraint pets_version_positive;
