-- Sends GET <path> with `Authorization: Bearer <token>`, taking the tokens in turn from a file
-- (one per line). Every variant of a comparison runs through this same script, so the load
-- generator does the same work whatever the server does: a server without authentication
-- simply ignores the header.
--
-- wrk ... -s tokens.lua <url> -- <path> <tokens file> <threads>
-- Prints one line `WRK_JSON {...}` with the totals and latency percentiles (microseconds).

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  path = args[1]
  local file = io.open(args[2], "r")
  if file == nil then error("cannot open token file " .. tostring(args[2])) end
  tokens = {}
  for line in file:lines() do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
  file:close()
  if #tokens == 0 then error("no tokens in " .. args[2]) end
  -- Threads start at evenly spaced offsets, so with a long list no token is sent twice
  -- before the list wraps.
  local threads = tonumber(args[3]) or 1
  next_index = (id * math.floor(#tokens / threads)) % #tokens + 1
end

function request()
  local token = tokens[next_index]
  next_index = next_index + 1
  if next_index > #tokens then next_index = 1 end
  return wrk.format("GET", path, { ["Authorization"] = token })
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
