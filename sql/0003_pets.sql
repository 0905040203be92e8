-- The read model: each pet as its events have left it. Written by the fold
-- (the triggers on the event tables) alone; see 0007_pets_read_only.sql.

create table pets (
    id uuid primary key,
    name varchar(100) not null,
    species varchar(50) not null,
    current_price numeric(10, 2) not null,
    status varchar(20) not null,
    customer_id uuid,
    mother_id uuid,
    last_event_id uuid not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    version integer not null,
    constraint pets_status check (status in ('AVAILABLE', 'SOLD', 'LOST')),
    constraint pets_sold_has_customer check ((status = 'SOLD') = (customer_id is not null)),
    constraint pets_version_positive check (version > 0)
);

comment on table pets is
    'Read model: every pet as its events left it. Maintained by triggers on the event tables; read-only.';
comment on column pets.version is 'Number of events applied to this pet.';

-- Keyset pagination over pets runs in id order, filtered by these columns.
create index pets_status_id on pets (status, id);
create index pets_species_id on pets (species, id);
create index pets_mother_id on pets (mother_id, id);
