-- The dates of events are dates a pet could have been lost or found on:
-- not before 1900-01-01 and not after tomorrow (UTC), which leaves a day for
-- the zones ahead of UTC. A typo (0024 for 2024) or a date at the ends of the
-- calendar is refused as a validation failure (23514, the API's
-- VALIDATION_FAILED on lostDate / foundDate); the API checks the same range
-- first, for a clear message (api/validation.py, EARLIEST_EVENT_DATE).
--
-- NOT VALID: the rule is for new events; rows stored before it are history
-- and stay as they are. Once true the upper bound stays true as time passes,
-- so a dump of rows that passed it restores.
alter table pet_lost_events
    add constraint pet_lost_events_lost_date_plausible
    check (lost_date >= date '1900-01-01'
           and lost_date <= (statement_timestamp() at time zone 'UTC')::date + 1)
    not valid;
alter table pet_found_events
    add constraint pet_found_events_found_date_plausible
    check (found_date >= date '1900-01-01'
           and found_date <= (statement_timestamp() at time zone 'UTC')::date + 1)
    not valid;
