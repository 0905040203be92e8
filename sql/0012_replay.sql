-- Replaying the history: the read model recomputed from the events by the
-- same pet_fold() that the triggers apply, for `graphql-petstore verify`
-- (compare) and `graphql-petstore rebuild` (replace).

-- The pets of `ids` as their whole histories leave them.
create function pets_replayed(ids uuid[]) returns setof pets
language sql stable
as $$
    select (folded.state).*
    from (
        select pet_fold_all(e order by e.pet_version) as state
        from pet_event_log e
        where e.pet_id = any(ids)
        group by e.pet_id
    ) folded
$$;

-- Every pet id that the history knows, in order (a pet begins with its
-- arrival or its birth).
create function pet_ids_in_history() returns setof uuid
language sql stable
as $$
    select pet_id from pet_arrived_events
    union
    select pet_id from pet_born_events
    order by 1
$$;

-- Starts a rebuild in the calling transaction: no event may be appended until
-- it commits (SHARE locks on the event tables), readers keep seeing the old
-- rows until then (MVCC), and the read-only guard lets this transaction empty
-- and refill `pets`. (A session that sets petstore.rebuilding by hand can do
-- the same: like every trigger here, the guard stops mistakes, not owners.)
create function pets_rebuild_begin() returns void
language plpgsql
as $$
begin
    lock table pet_arrived_events, pet_born_events, pet_sold_events,
        pet_price_change_events, pet_lost_events, pet_found_events in share mode;
    perform set_config('petstore.rebuilding', 'on', true);
    delete from pets;
end
$$;
