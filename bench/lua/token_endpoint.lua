-- POST /oauth/token, for the minting comparison.
--
-- wrk ... -s token_endpoint.lua <url> -- client_credentials <basic credentials> <form body>
-- wrk ... -s token_endpoint.lua <url> -- refresh_token <refresh tokens file> <threads>
--
-- Refresh tokens rotate: each one is good for exactly one refresh, and presenting it twice
-- ends the session (reuse detection). So every thread keeps a queue of unused refresh tokens,
-- takes one per request and puts back the new one from each successful answer. A thread
-- starts with one session per connection (plus spares), so a connection always finds a token
-- its own previous answer returned.
-- Prints `WRK_JSON {...}` like tokens.lua, plus `"starved"`: requests sent without a token
-- because the queue ran dry (after failed refreshes).

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  grant = args[1]
  starved = 0
  if grant == "client_credentials" then
    headers = {
      ["Authorization"] = "Basic " .. args[2],
      ["Content-Type"] = "application/x-www-form-urlencoded",
    }
    body = args[3]
  elseif grant == "refresh_token" then
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
    local file = io.open(args[2], "r")
    if file == nil then error("cannot open refresh token file " .. tostring(args[2])) end
    local count = tonumber(args[3]) or 1
    queue = {}
    local index = 0
    for line in file:lines() do
      if #line > 0 then
        if index % count == id then queue[#queue + 1] = line end
        index = index + 1
      end
    end
    file:close()
  else
    error("unknown grant " .. tostring(grant))
  end
end

function request()
  if grant == "client_credentials" then
    return wrk.format("POST", "/oauth/token", headers, body)
  end
  local token = table.remove(queue, 1)
  if token == nil then
    starved = starved + 1
    token = "starved"
  end
  return wrk.format("POST", "/oauth/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  if grant == "refresh_token" and status == 200 then
    local next_token = string.match(body, '"refresh_token"%s*:%s*"([%w_%-]+)"')
    if next_token ~= nil then queue[#queue + 1] = next_token end
  end
end

function done(summary, latency, requests)
  local total_starved = 0
  for _, thread in ipairs(threads) do
    total_starved = total_starved + (thread:get("starved") or 0)
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"starved":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, total_starved))
end
