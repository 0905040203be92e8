-- The event store: one abstract base table and one child table per event type.
--
-- Children INHERIT events, so `SELECT * FROM events` shows the common columns
-- of every event. Inheritance passes on columns, defaults, NOT NULL and CHECK
-- constraints, but not primary keys, unique constraints or indexes: each child
-- declares its own below.
--
-- Ordering. Ids are UUIDv7, so they sort by creation time, but creation order
-- is not commit order: a transaction that took its id first may commit last.
-- Two more orders are therefore stored with each event:
--   * pet_version, the pet's version right after the event (1 for its first
--     event), assigned under the pet's row lock: the order of one pet's history;
--   * (tx_id, seq), the writing transaction's id and a global sequence number:
--     the commit-safe order of the whole stream. A reader that only reads
--     events with tx_id < pg_snapshot_xmin(pg_current_snapshot()) sees every
--     transaction below that horizon finished, so nothing can later appear
--     behind its cursor.

create sequence events_seq as bigint;

create table events (
    id uuid primary key default uuid_generate_v7(),
    created_at timestamptz not null default now(),
    event_type varchar(100) not null,
    metadata jsonb not null default '{}',
    pet_id uuid not null,
    pet_version integer not null,
    tx_id xid8 not null default pg_current_xact_id(),
    seq bigint not null default nextval('events_seq'),
    constraint events_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
    constraint events_pet_version_positive check (pet_version > 0),
    -- The base table only gathers its children: no row may live in it itself.
    constraint events_is_abstract check (false) no inherit
);
alter sequence events_seq owned by events.seq;

comment on table events is
    'Every event ever recorded (rows live in the pet_*_events children). Immutable.';
comment on column events.pet_version is
    'The pet''s version right after this event: the order of the pet''s history.';
comment on column events.tx_id is
    'The writing transaction (pg_current_xact_id()); with seq, the commit-safe stream order.';
comment on column events.seq is
    'Global insertion sequence: the order of events within one transaction.';

create table pet_arrived_events (
    name varchar(100) not null,
    species varchar(50) not null,
    price numeric(10, 2) not null,
    constraint pet_arrived_events_pkey primary key (id),
    constraint pet_arrived_events_type check (event_type = 'PET_ARRIVED'),
    constraint pet_arrived_events_name_not_blank check (name <> ''),
    constraint pet_arrived_events_species_not_blank check (species <> ''),
    constraint pet_arrived_events_price_not_negative check (price >= 0)
) inherits (events);

create table pet_born_events (
    name varchar(100) not null,
    species varchar(50) not null,
    mother_id uuid not null,
    price numeric(10, 2) not null,
    constraint pet_born_events_pkey primary key (id),
    constraint pet_born_events_type check (event_type = 'PET_BORN'),
    constraint pet_born_events_name_not_blank check (name <> ''),
    constraint pet_born_events_species_not_blank check (species <> ''),
    constraint pet_born_events_price_not_negative check (price >= 0),
    constraint pet_born_events_not_own_mother check (mother_id <> pet_id)
) inherits (events);

create table pet_sold_events (
    customer_id uuid not null,
    sale_price numeric(10, 2) not null,
    constraint pet_sold_events_pkey primary key (id),
    constraint pet_sold_events_type check (event_type = 'PET_SOLD'),
    constraint pet_sold_events_sale_price_not_negative check (sale_price >= 0)
) inherits (events);

create table pet_price_change_events (
    new_price numeric(10, 2) not null,
    old_price numeric(10, 2) not null,
    constraint pet_price_change_events_pkey primary key (id),
    constraint pet_price_change_events_type check (event_type = 'PET_PRICE_CHANGE'),
    constraint pet_price_change_events_new_price_not_negative check (new_price >= 0),
    constraint pet_price_change_events_old_price_not_negative check (old_price >= 0)
) inherits (events);

create table pet_lost_events (
    lost_date date not null default current_date,
    last_seen_location text,
    constraint pet_lost_events_pkey primary key (id),
    constraint pet_lost_events_type check (event_type = 'PET_LOST')
) inherits (events);

create table pet_found_events (
    found_date date not null default current_date,
    found_location text,
    constraint pet_found_events_pkey primary key (id),
    constraint pet_found_events_type check (event_type = 'PET_FOUND_AGAIN')
) inherits (events);

-- Each child accepts only its own type, so its type is also its default: a
-- hand-written INSERT may leave event_type out.
alter table pet_arrived_events alter column event_type set default 'PET_ARRIVED';
alter table pet_born_events alter column event_type set default 'PET_BORN';
alter table pet_sold_events alter column event_type set default 'PET_SOLD';
alter table pet_price_change_events alter column event_type set default 'PET_PRICE_CHANGE';
alter table pet_lost_events alter column event_type set default 'PET_LOST';
alter table pet_found_events alter column event_type set default 'PET_FOUND_AGAIN';

-- The reads each child serves: a pet's history in order (also proving that
-- versions are unique per pet), the global stream in commit-safe order, and
-- time windows.
create unique index pet_arrived_events_pet_version on pet_arrived_events (pet_id, pet_version);
create unique index pet_born_events_pet_version on pet_born_events (pet_id, pet_version);
create unique index pet_sold_events_pet_version on pet_sold_events (pet_id, pet_version);
create unique index pet_price_change_events_pet_version on pet_price_change_events (pet_id, pet_version);
create unique index pet_lost_events_pet_version on pet_lost_events (pet_id, pet_version);
create unique index pet_found_events_pet_version on pet_found_events (pet_id, pet_version);

create index pet_arrived_events_stream on pet_arrived_events (tx_id, seq);
create index pet_born_events_stream on pet_born_events (tx_id, seq);
create index pet_sold_events_stream on pet_sold_events (tx_id, seq);
create index pet_price_change_events_stream on pet_price_change_events (tx_id, seq);
create index pet_lost_events_stream on pet_lost_events (tx_id, seq);
create index pet_found_events_stream on pet_found_events (tx_id, seq);

create index pet_arrived_events_created_at on pet_arrived_events (created_at);
create index pet_born_events_created_at on pet_born_events (created_at);
create index pet_sold_events_created_at on pet_sold_events (created_at);
create index pet_price_change_events_created_at on pet_price_change_events (created_at);
create index pet_lost_events_created_at on pet_lost_events (created_at);
create index pet_found_events_created_at on pet_found_events (created_at);
