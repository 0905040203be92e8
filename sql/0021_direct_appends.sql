-- An append with no idempotency key to claim and no date left to a
-- column's default needs nothing of its append function (sql/0020) but the
-- INSERT: the server's compiled mutations then send the INSERT itself, in a
-- statement that also renders the payload, and PostgreSQL spends about a
-- sixth less on it (the plpgsql call, its second read of the pet and the
-- two composite rows it returns). The triggers check and fold the event
-- exactly as before, with the owner's rights; the API's role inserts into
-- the event tables and reads them back (RETURNING) as sql/0015 grants.
--
-- The pet as the event left it is then computed in that statement with the
-- read model's own fold, from the pet as the statement saw it before the
-- INSERT (the statement cannot see the AFTER trigger's write): so the API's
-- role may call pet_fold, an immutable function of its two arguments that
-- reads and writes nothing.
-- (Guarded as sql/0020's grants are: `migrate` makes the role before any
-- file runs, but a database migrated by hand may lack it.)
do $$
begin
    if exists (select from pg_roles where rolname = 'petstore_api') then
        grant execute on function pet_fold(pets, pet_event_log) to petstore_api;
    end if;
end
$$;
