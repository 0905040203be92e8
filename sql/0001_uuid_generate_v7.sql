-- uuid_generate_v7(): time-ordered UUIDs (RFC 9562, version 7) as the default
-- id of every event, on every supported PostgreSQL.
--
-- PostgreSQL 18 has uuidv7() built in; there we wrap it. Older servers get the
-- same layout in SQL: 48 bits of Unix time in milliseconds, the version nibble
-- 7, then 12 bits of sub-millisecond time (RFC 9562 method 3, as PostgreSQL 18
-- does) so that ids made one after another still sort in creation order, then
-- the random bits and variant of a gen_random_uuid().
do $$
begin
    if current_setting('server_version_num')::int >= 180000 then
        execute $fn$
            create or replace function uuid_generate_v7() returns uuid
            language sql volatile parallel safe
            as 'select uuidv7()'
        $fn$;
    else
        execute $fn$
            create or replace function uuid_generate_v7() returns uuid
            language sql volatile parallel safe
            as $body$
                select encode(
                    substring(int8send(t.ms) from 3)
                    || int2send((x'7000'::int + t.sub)::smallint)
                    || substring(uuid_send(gen_random_uuid()) from 9),
                    'hex'
                )::uuid
                from (
                    select floor(ms_now)::bigint as ms,
                           floor((ms_now - floor(ms_now)) * 4096)::int as sub
                    from (select extract(epoch from clock_timestamp()) * 1000 as ms_now) as now
                ) as t
            $body$
        $fn$;
    end if;
end
$$;

comment on function uuid_generate_v7() is
    'A version 7 (time-ordered) UUID; wraps the built-in uuidv7() on PostgreSQL 18 and later.';
