"""petstore_api, the role `serve` logs in as, cannot bypass a rule (issue 9):
every statement below is refused to it, and what it may do is only appending
events and reading. All of it connected as petstore_api itself. (That its
privileges are enough is shown by the whole API suite, which runs as it.)"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.roles import API_ROLE, OWNER_ROLE
from tests.database.rules import EVENT_TABLES, insert_event, record_one_of_each, store_contents

ALL_EVENT_TABLES = (*EVENT_TABLES, "events")
A_PET = "('00000000-0000-7000-8000-000000000001', 'Rex', 'Dog', 1, 'AVAILABLE', null, null,"
A_PET += " '00000000-0000-7000-8000-000000000002', now(), now(), 1)"

# Each of these succeeded for the superuser that the server used to log in as.
REFUSED = {
    "disable an event trigger": "alter table pet_sold_events disable trigger events_check",
    "disable the read-only guard": "alter table pets disable trigger pets_guard",
    "skip every trigger": "set session_replication_role = replica",
    "drop the read model": "drop table pets",
    "drop an event table": "drop table pet_sold_events",
    "create a role": "create role petstore_intruder",
    "read a server file": "select pg_read_file('PG_VERSION')",
    "run a program": "copy (select 1) to program 'true'",
    "write a server file": "copy (select 1) to '/tmp/petstore_intruder'",
    "create a table": "create table intruder (id int)",
    "create a temporary table": "create temporary table intruder (id int)",
    "create a schema": "create schema intruder",
    "start a rebuild": "select pets_rebuild_begin()",
    "replay pets": "select * from pets_replayed(array[]::uuid[])",
    "insert into pets": f"insert into pets values {A_PET}",
    "update pets": "update pets set status = 'SOLD'",
    "delete from pets": "delete from pets",
    "truncate pets": "truncate pets",
    "read the kept password": "select * from petstore_api_login",
    "change a trigger function": (
        "create or replace function events_reject_change() returns trigger"
        " language plpgsql as 'begin return null; end'"
    ),
    "become the owner": f"set role {OWNER_ROLE}",
    # A GRANT without the grant option only warns; the UPDATE after it fails.
    "grant itself more": f"grant update on pets to {API_ROLE}; update pets set status = 'SOLD'",
    "choose an event's stream position": (
        "insert into pet_arrived_events (pet_id, name, species, price, tx_id)"
        " values (gen_random_uuid(), 'Rex', 'Dog', 1, '1')"
    ),
    "choose an event's sequence number": (
        "insert into pet_arrived_events (pet_id, name, species, price, seq)"
        " values (gen_random_uuid(), 'Rex', 'Dog', 1, 1)"
    ),
    "move the event sequence": "select setval('events_seq', 1)",
}
for _table in ALL_EVENT_TABLES:
    REFUSED[f"update {_table}"] = f"update {_table} set metadata = '{{}}'"
    REFUSED[f"delete from {_table}"] = f"delete from {_table}"
    REFUSED[f"truncate {_table}"] = f"truncate {_table}"
    REFUSED[f"disable the triggers of {_table}"] = f"alter table {_table} disable trigger all"


@pytest_asyncio.fixture(loop_scope="session")
async def api(api_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A session of petstore_api on this test's database."""
    connection = await asyncpg.connect(api_database_url)
    try:
        assert await connection.fetchval("select session_user") == API_ROLE
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def history(conn: asyncpg.Connection) -> None:
    """A stored event in each table, so that an UPDATE or DELETE has rows to hit."""
    await record_one_of_each(conn)


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("statement", list(REFUSED.values()), ids=list(REFUSED))
async def test_api_role_is_refused(
    api: asyncpg.Connection, conn: asyncpg.Connection, statement: str
) -> None:
    before = await store_contents(conn)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await api.execute(statement)
    assert await store_contents(conn) == before


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(
    "write",
    [
        f"insert into pets values {A_PET}",
        "update pets set status = 'SOLD'",
        "delete from pets",
        "truncate pets",
    ],
)
async def test_rebuild_flag_gives_the_api_role_no_write_on_pets(
    api: asyncpg.Connection, conn: asyncpg.Connection, write: str
) -> None:
    before = await store_contents(conn)
    # Anybody may set a custom setting; what the guard exempts, the grants still refuse.
    await api.execute("select set_config('petstore.rebuilding', 'on', false)")
    assert await api.fetchval("select current_setting('petstore.rebuilding')") == "on"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await api.execute(write)
    async with api.transaction():
        await api.execute("select set_config('petstore.rebuilding', 'on', true)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await api.execute(write)
    assert await store_contents(conn) == before


async def test_api_role_appends_every_event_type_through_the_triggers(
    api: asyncpg.Connection,
) -> None:
    """The triggers lock rows FOR UPDATE and FOR SHARE and write `pets` with
    their owner's rights, which petstore_api itself does not have."""
    mother, kid, lost = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await insert_event(api, "pet_arrived_events", pet_id=mother, name="Mum", species="Cat", price=1)
    await insert_event(api, "pet_arrived_events", pet_id=lost, name="Lo", species="Cat", price=1)
    # The mother's row is locked FOR SHARE.
    await insert_event(
        api, "pet_born_events", pet_id=kid, name="Kit", species="Cat", mother_id=mother, price=2
    )
    # Each of these locks its pet's row FOR UPDATE.
    await insert_event(api, "pet_price_change_events", pet_id=kid, new_price=Decimal("3.00"))
    await insert_event(api, "pet_sold_events", pet_id=kid, customer_id=uuid.uuid4(), sale_price=3)
    await insert_event(api, "pet_lost_events", pet_id=lost, lost_date=datetime.date(2024, 1, 1))
    await insert_event(api, "pet_found_events", pet_id=lost, found_date=datetime.date(2024, 1, 2))
    rows = await api.fetch("select id, status, version from pets order by name")
    assert [(r["status"], r["version"]) for r in rows] == [
        ("SOLD", 3),
        ("AVAILABLE", 3),
        ("AVAILABLE", 1),
    ]


async def test_api_role_still_meets_every_rule(api: asyncpg.Connection) -> None:
    pet_id = uuid.uuid4()
    await insert_event(api, "pet_arrived_events", pet_id=pet_id, name="Rex", species="Dog", price=1)
    customer = uuid.uuid4()
    await insert_event(api, "pet_sold_events", pet_id=pet_id, customer_id=customer, sale_price=1)
    with pytest.raises(asyncpg.PostgresError, match="PET_ALREADY_SOLD"):
        await insert_event(
            api, "pet_sold_events", pet_id=pet_id, customer_id=uuid.uuid4(), sale_price=1
        )


async def test_api_role_writes_only_events_and_idempotency_keys(conn: asyncpg.Connection) -> None:
    """Whatever later migrations add, petstore_api may insert into the event
    tables and idempotency_keys alone, and update, delete or truncate nothing."""
    rows = await conn.fetch(
        """
        select c.relname, p.privilege
        from pg_class c
        cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                                'TRIGGER']) as p(privilege)
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
            and (has_table_privilege($1, c.oid, p.privilege)
                 or (p.privilege in ('INSERT', 'UPDATE', 'REFERENCES')
                     and has_any_column_privilege($1, c.oid, p.privilege)))
        order by 1, 2
        """,
        API_ROLE,
    )
    assert [(r["relname"], r["privilege"]) for r in rows] == sorted(
        [(table, "INSERT") for table in EVENT_TABLES] + [("idempotency_keys", "INSERT")]
    )


# What petstore_api may call: the folds (over a history, and of one event,
# sql/0021), the id default, the two functions that raise a rule's error,
# and the append functions of sql/0020.
API_ROUTINES = [
    "pet_fold(pets,pet_event_log)",
    "pet_fold_all(pet_event_log)",
    "petstore_append_pet_arrived(uuid,uuid,text,text,numeric,jsonb,integer,text,text)",
    "petstore_append_pet_born(uuid,uuid,uuid,text,text,numeric,jsonb,integer,text,text)",
    "petstore_append_pet_found_again(uuid,uuid,date,text,jsonb,integer,text,text)",
    "petstore_append_pet_lost(uuid,uuid,date,text,jsonb,integer,text,text)",
    "petstore_append_pet_price_change(uuid,uuid,numeric,numeric,jsonb,integer,text,text)",
    "petstore_append_pet_sold(uuid,uuid,uuid,numeric,jsonb,integer,text,text)",
    "petstore_appended(uuid)",
    "petstore_claim_idempotency_key(text,text,uuid,text)",
    "petstore_error_sqlstate(text)",
    "petstore_reject(text,text,text)",
    "uuid_generate_v7()",
]


async def test_api_role_executes_only_what_it_calls_and_all_with_its_own_rights(
    conn: asyncpg.Connection,
) -> None:
    """A SECURITY DEFINER function that petstore_api could call would lend it
    its owner's rights: there is none."""
    rows = await conn.fetch(
        """
        select p.oid::regprocedure::text as routine, p.prosecdef from pg_proc p
        where p.pronamespace = 'public'::regnamespace
            and has_function_privilege($1, p.oid, 'EXECUTE')
        order by 1
        """,
        API_ROLE,
    )
    assert [r["routine"] for r in rows] == API_ROUTINES
    assert not [r["routine"] for r in rows if r["prosecdef"]]


async def test_every_trigger_function_runs_as_its_owner_with_a_fixed_search_path(
    conn: asyncpg.Connection,
) -> None:
    rows = await conn.fetch(
        """
        select distinct p.oid::regprocedure::text as routine, p.prosecdef, p.proconfig,
            pg_get_userbyid(p.proowner) as owner
        from pg_trigger t join pg_proc p on p.oid = t.tgfoid
        join pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal and c.relnamespace = 'public'::regnamespace
        """
    )
    assert rows
    for row in rows:
        assert row["prosecdef"], row["routine"]
        assert row["proconfig"] == ["search_path=public, pg_temp"], row["routine"]
        assert row["owner"] == OWNER_ROLE, row["routine"]


async def test_every_object_belongs_to_the_owner_role(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        select c.relname as name, pg_get_userbyid(c.relowner) as owner from pg_class c
        where c.relnamespace = 'public'::regnamespace
        union all
        select p.proname, pg_get_userbyid(p.proowner) from pg_proc p
        where p.pronamespace = 'public'::regnamespace
        """
    )
    assert rows
    assert {row["owner"] for row in rows} == {OWNER_ROLE}, [tuple(r) for r in rows]


async def test_neither_role_is_a_superuser_nor_the_api_role_a_member_of_anything(
    conn: asyncpg.Connection,
) -> None:
    rows = await conn.fetch(
        "select rolname, rolsuper, rolcreatedb, rolbypassrls, rolreplication from pg_roles"
        " where rolname = any($1::text[])",
        [OWNER_ROLE, API_ROLE],
    )
    assert len(rows) == 2
    assert not any(r["rolsuper"] or r["rolbypassrls"] or r["rolreplication"] for r in rows)
    memberships = await conn.fetchval(
        "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.member"
        " where r.rolname = $1",
        API_ROLE,
    )
    assert memberships == 0


async def test_api_role_cannot_backdate_events(api: asyncpg.Connection) -> None:
    # The seed's setting (sql/0060) moves created_at only for a login that
    # may act as the owner.
    await api.execute("set petstore.backdate = '2001-01-01 00:00:00+00'")
    pet = uuid.uuid4()
    created = await api.fetchval(
        "insert into pet_arrived_events (pet_id, name, species, price)"
        " values ($1, 'Rex', 'Dog', 1) returning created_at",
        pet,
    )
    assert created > datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
