-- Free-text locations are bounded like every other text of an event, so that
-- the limit the API checks is also the database's.
alter table pet_lost_events
    add constraint pet_lost_events_last_seen_location_not_too_long
    check (length(last_seen_location) <= 1000);
alter table pet_found_events
    add constraint pet_found_events_found_location_not_too_long
    check (length(found_location) <= 1000);
