-- tokens.lua plus a per-second count of 2xx and other answers, for the outage runs: the
-- runner stops auth-service part-way and reads from the timeline which share of requests was
-- still served before and after.
--
-- wrk ... -s timeline.lua <url> -- <path> <tokens file> <threads>
-- Prints `WRK_JSON {...}` and one `WRK_SECOND <unix second> <2xx> <other>` line per second.

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
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
  local count = tonumber(args[3]) or 1
  next_index = (id * math.floor(#tokens / count)) % #tokens + 1
  ok_by_second = {}
  failed_by_second = {}
end

function request()
  local token = tokens[next_index]
  next_index = next_index + 1
  if next_index > #tokens then next_index = 1 end
  return wrk.format("GET", path, { ["Authorization"] = token })
end

function response(status, headers, body)
  local second = os.time()
  if status >= 200 and status < 300 then
    ok_by_second[second] = (ok_by_second[second] or 0) + 1
  else
    failed_by_second[second] = (failed_by_second[second] or 0) + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
  local ok, failed, seconds = {}, {}, {}
  for _, thread in ipairs(threads) do
    for second, n in pairs(thread:get("ok_by_second")) do
      if ok[second] == nil and failed[second] == nil then seconds[#seconds + 1] = second end
      ok[second] = (ok[second] or 0) + n
    end
    for second, n in pairs(thread:get("failed_by_second")) do
      if ok[second] == nil and failed[second] == nil then seconds[#seconds + 1] = second end
      failed[second] = (failed[second] or 0) + n
    end
  end
  table.sort(seconds)
  for _, second in ipairs(seconds) do
    io.write(string.format("WRK_SECOND %d %d %d\n", second, ok[second] or 0, failed[second] or 0))
  end
end
