-- `pets` is written by the fold alone. The fold runs inside the event triggers,
-- so its writes arrive at trigger depth 2 or more (the event trigger, then this
-- one); a statement typed by a person or sent by a program arrives at depth 1.
-- A rebuild (sql/0012_replay.sql) replays the fold itself and marks its
-- transaction with petstore.rebuilding; it may empty and refill the table.
create function pets_reject_direct_write() returns trigger
language plpgsql
as $$
begin
    if current_setting('petstore.rebuilding', true) is distinct from 'on'
        and (tg_level = 'STATEMENT' or pg_trigger_depth() < 2) then
        perform petstore_reject('READ_MODEL_READ_ONLY',
            format('pets is a read model: %s it by recording an event instead', lower(tg_op)));
    end if;
    return case tg_op when 'DELETE' then old else new end;
end
$$;

create trigger pets_read_only before insert or update or delete on pets
    for each row execute function pets_reject_direct_write();
create trigger pets_no_truncate before truncate on pets
    for each statement execute function pets_reject_direct_write();

revoke insert, update, delete, truncate on pets from public;
revoke update, delete, truncate on
    events, pet_arrived_events, pet_born_events, pet_sold_events,
    pet_price_change_events, pet_lost_events, pet_found_events
    from public;
