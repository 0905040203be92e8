-- One GraphQL POST per request, for wrk (bench/api/wrk_load.py).
-- Environment:
--   PETSTORE_WRK_BODY       the JSON body of every request (a query without variables), or
--   PETSTORE_WRK_DOCUMENT   a mutation with $id: UUID! and $price: Decimal!, sent with the pets
--   PETSTORE_WRK_PETS       of this file (one id a line), in turn, each with a new price.
-- Consecutive requests name different pets, so that the requests in flight
-- do not wait for one another's row lock. No response() callback: wrk then
-- reads no body into Lua, which keeps the load generator cheap.
local body = os.getenv("PETSTORE_WRK_BODY")
local document = os.getenv("PETSTORE_WRK_DOCUMENT")
local pets = {}
local position = 0

local function json_string(text)
  return '"' .. text:gsub('\\', '\\\\'):gsub('"', '\\"') .. '"'
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end

function init(args)
  if document then
    for line in io.lines(os.getenv("PETSTORE_WRK_PETS")) do
      if #line > 0 then pets[#pets + 1] = line end
    end
    document = json_string(document)
    -- Threads start at different places in the list.
    position = (first or 0) * 997
  end
end

function request()
  if not document then
    return wrk.format(nil, nil, nil, body)
  end
  position = position + 1
  -- 7919 is prime to 99,900: a pet's next price differs from its last.
  local cents = 100 + (position * 7919) % 99900
  local variables = string.format(
    '{"id":"%s","price":"%d.%02d"}', pets[position % #pets + 1], math.floor(cents / 100), cents % 100
  )
  return wrk.format(nil, nil, nil, '{"query":' .. document .. ',"variables":' .. variables .. '}')
end

function done(summary, latency, requests)
  io.write(string.format(
    'PETSTORE_WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
