-- The fold: how one event changes one pet. Written once, here, and used by the
-- triggers that maintain `pets`, by rebuilds and by point-in-time reads.
--
-- pet_event_log is every event as one row type: the common columns and the
-- union of the six payloads (null where a type has no such field). Its row type
-- is what the fold takes, so any event row converts to it with
-- jsonb_populate_record(null::pet_event_log, to_jsonb(event_row)).

create view pet_event_log as
    select id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
           name, species, price, null::uuid as mother_id,
           null::uuid as customer_id, null::numeric(10, 2) as sale_price,
           null::numeric(10, 2) as new_price, null::numeric(10, 2) as old_price,
           null::date as lost_date, null::text as last_seen_location,
           null::date as found_date, null::text as found_location
    from pet_arrived_events
    union all
    select id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
           name, species, price, mother_id,
           null, null, null, null, null, null, null, null
    from pet_born_events
    union all
    select id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
           null, null, null, null,
           customer_id, sale_price, null, null, null, null, null, null
    from pet_sold_events
    union all
    select id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
           null, null, null, null, null, null,
           new_price, old_price, null, null, null, null
    from pet_price_change_events
    union all
    select id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
           null, null, null, null, null, null, null, null,
           lost_date, last_seen_location, null, null
    from pet_lost_events
    union all
    select id, created_at, event_type, metadata, pet_id, pet_version, tx_id, seq,
           null, null, null, null, null, null, null, null, null, null,
           found_date, found_location
    from pet_found_events;

comment on view pet_event_log is
    'Every event with its payload, as one row type: the input of pet_fold().';

-- pet_fold(state, event) -> state. Pure: no reads, no writes, no checks (the
-- rules are checked before an event is stored; a stored event always applies).
-- `state` is null (or all nulls) before the pet's first event.
create function pet_fold(state pets, e pet_event_log) returns pets
language plpgsql immutable parallel safe
as $$
begin
    case e.event_type
        when 'PET_ARRIVED', 'PET_BORN' then
            state.id := e.pet_id;
            state.name := e.name;
            state.species := e.species;
            state.current_price := e.price;
            state.status := 'AVAILABLE';
            state.customer_id := null;
            state.mother_id := e.mother_id;
            state.created_at := e.created_at;
        when 'PET_SOLD' then
            state.status := 'SOLD';
            state.customer_id := e.customer_id;
        when 'PET_PRICE_CHANGE' then
            state.current_price := e.new_price;
        when 'PET_LOST' then
            state.status := 'LOST';
        when 'PET_FOUND_AGAIN' then
            state.status := 'AVAILABLE';
    end case;
    state.last_event_id := e.id;
    state.updated_at := e.created_at;
    state.version := e.pet_version;
    return state;
end
$$;

comment on function pet_fold(pets, pet_event_log) is
    'Applies one event to one pet''s state; the single definition of the read model.';

-- Folds a pet's events, given in pet_version order, into its state:
--   select pet_fold_all(e order by e.pet_version) from pet_event_log e where e.pet_id = $1
create aggregate pet_fold_all(pet_event_log) (
    sfunc = pet_fold,
    stype = pets
);
