-- The errors with which the database rejects an event that breaks a rule.
--
-- Each rule has its own SQLSTATE in the private class 'PS', and the message
-- starts with the stable code that the GraphQL API reports as ErrorCode, so
-- that both a program (by SQLSTATE) and a person in psql (by message) can
-- tell what went wrong:
--
--   PS000  VALIDATION_FAILED      an input value is missing or malformed
--   PS001  PET_NOT_FOUND          no pet has this id
--   PS002  PET_ALREADY_EXISTS     arrival or birth of a pet id that is taken
--   PS003  MOTHER_NOT_FOUND       birth to a mother that does not exist
--   PS004  MOTHER_NOT_IN_STORE    birth to a mother that is not AVAILABLE
--   PS005  SPECIES_MISMATCH       birth of another species than the mother's
--   PS006  PET_NOT_AVAILABLE      sale or loss of a pet that is not AVAILABLE
--   PS007  PET_ALREADY_SOLD       price change on a SOLD pet
--   PS008  PET_NOT_LOST           finding a pet that is not LOST
--   PS009  OLD_PRICE_MISMATCH     price change whose old_price is not the current price
--   PS010  FOUND_BEFORE_LOST      found_date before the pet's lost_date
--   PS011  VERSION_CONFLICT       reserved: expected version differs
--   PS012  IDEMPOTENCY_KEY_REUSED reserved: one key, two different commands
--   PS020  EVENT_IMMUTABLE        UPDATE, DELETE or TRUNCATE on an event table
--   PS021  READ_MODEL_READ_ONLY   a write to pets that does not come from the fold
--
-- Plain constraint violations (CHECK 23514, NOT NULL 23502, too long 22001,
-- numeric overflow 22003) are validation failures too; the API reports them
-- as VALIDATION_FAILED with the column they name.

create function petstore_error_sqlstate(code text) returns text
language sql immutable parallel safe
as $$
    select case code
        when 'VALIDATION_FAILED' then 'PS000'
        when 'PET_NOT_FOUND' then 'PS001'
        when 'PET_ALREADY_EXISTS' then 'PS002'
        when 'MOTHER_NOT_FOUND' then 'PS003'
        when 'MOTHER_NOT_IN_STORE' then 'PS004'
        when 'SPECIES_MISMATCH' then 'PS005'
        when 'PET_NOT_AVAILABLE' then 'PS006'
        when 'PET_ALREADY_SOLD' then 'PS007'
        when 'PET_NOT_LOST' then 'PS008'
        when 'OLD_PRICE_MISMATCH' then 'PS009'
        when 'FOUND_BEFORE_LOST' then 'PS010'
        when 'VERSION_CONFLICT' then 'PS011'
        when 'IDEMPOTENCY_KEY_REUSED' then 'PS012'
        when 'EVENT_IMMUTABLE' then 'PS020'
        when 'READ_MODEL_READ_ONLY' then 'PS021'
    end
$$;

-- Raises the rule's error; `field` names the offending column, if any.
create function petstore_reject(code text, message text, field text default null)
returns void
language plpgsql
as $$
begin
    raise exception using
        errcode = coalesce(petstore_error_sqlstate(code), 'PS000'),
        message = code || ': ' || message,
        column = coalesce(field, '');
end
$$;
