-- wrk script for benches/sandbox.sh: POST /v1/calls with a realistic body
-- (variables and metadata as callplan sends them), a different to_number on
-- every request, and a parseable summary line.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer bench-key"
end

function request()
  counter = counter + 1
  local n = id * 100000000 + counter
  local to = string.format("+1%010d", 2000000000 + n % 8000000000)
  local body = '{"from_number":"+14155550100","to_number":"' .. to ..
    '","agent_version_id":"av_sandbox","variables":{"customer_name":"Alex Rivera",' ..
    '"appointment_date":"June 3rd at 2 PM"},"metadata":{"callplan_key":"row-' .. n ..
    '","source":"bench"}}'
  return wrk.format(nil, "/v1/calls", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d socket_errors=%d non_2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status))
end
