-- The event stream is read below the oldest running transaction (design §4),
-- so a session that opens a transaction and is forgotten (a psql left at
-- BEGIN, a crashed client) would hold every subscriber back. End such
-- sessions after a minute, for every connection to this database. The server
-- sets the same on its own pool; this covers hand-written sessions too.
do $$
begin
    execute format(
        'alter database %I set idle_in_transaction_session_timeout = %L',
        current_database(), '60s'
    );
exception when insufficient_privilege then
    raise notice 'not the owner of database %: set idle_in_transaction_session_timeout yourself',
        current_database();
end
$$;
