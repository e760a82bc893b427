-- POST GraphQL requests with bearer tokens, rotating through a file of prepared requests.
--
--   wrk -t1 -c32 -d10s -s bench/wrk/graphql.lua http://127.0.0.1:PORT -- requests.tsv
--
-- Each line of requests.tsv is "TOKEN<TAB>JSON BODY" (the body has no raw tab or newline:
-- it is compact JSON). A response counts as failed when its status is not 200 or its body
-- carries a top-level GraphQL "errors" key. done() prints one line "WRK_JSON {...}" with the
-- counts and latency percentiles (microseconds) for bench/scenarios/load.py to parse.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  prepared = {}
  failed = 0
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    if tab then
      local headers = {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. line:sub(1, tab - 1),
      }
      prepared[#prepared + 1] = wrk.format("POST", "/graphql", headers, line:sub(tab + 1))
    end
  end
  -- Threads start at different places so they do not ask for the same person in lockstep.
  index = math.random(#prepared) - 1
end

function request()
  index = index % #prepared + 1
  return prepared[index]
end

function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("failed")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "failed": %d, "socket_errors": %d, '
      .. '"timeouts": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, bad, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max
  ))
end
