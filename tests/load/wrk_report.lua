-- Prints one machine-readable line at the end of a wrk run:
-- RESULT rps=<n> p50=<ms> p90=<ms> p99=<ms> requests=<n> errors=<n>
-- errors counts socket errors, timeouts and non-2xx/3xx responses.
-- WRK_METHOD / WRK_BODY_FILE / WRK_PATHS_FILE (one path per line, requests
-- cycle through them) shape the request.
-- WRK_PACE_MS=n: each connection waits a random 0..2n ms (n on average)
-- before each request, so -cN offers about N*1000/n req/s instead of as
-- many as the server can take: latency at a given load, not at saturation,
-- where a closed loop's latency is only connections / throughput.
local paths = {}
local idx = 0
local method = os.getenv("WRK_METHOD") or "GET"
local bodies = {}
local pace = tonumber(os.getenv("WRK_PACE_MS") or "") or 0

local function lines(file)
  local t = {}
  if file and file ~= "" then
    for l in io.lines(file) do if #l > 0 then t[#t + 1] = l end end
  end
  return t
end

function init(args)
  paths = lines(os.getenv("WRK_PATHS_FILE"))
  bodies = lines(os.getenv("WRK_BODY_FILE"))
  idx = math.random(1, 1000)
  if #paths == 0 and #bodies == 0 and method == "GET" then
    -- Nothing varies: let wrk send its precomputed request, so the load
    -- generator spends no Lua per request and takes less of the shared CPU.
    request = nil
  end
end

if pace > 0 then
  function delay()
    return math.random(0, 2 * pace)
  end
end

function request()
  idx = idx + 1
  local path = wrk.path
  if #paths > 0 then path = paths[(idx % #paths) + 1] end
  local body = nil
  local headers = {}
  if #bodies > 0 then
    body = bodies[(idx % #bodies) + 1]
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local errs = e.connect + e.read + e.write + e.timeout + e.status
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.0f p50=%.2f p90=%.2f p99=%.2f requests=%d errors=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, summary.requests, errs))
end
