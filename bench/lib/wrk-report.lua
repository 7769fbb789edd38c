-- wrk script for the bench: one bearer token on every request, optional pacing
-- (a fixed per-connection delay, so connections x 1000 / pace_ms requests per second
-- at most), and a one-line JSON report the bench parses.
local token = os.getenv("BENCH_TOKEN") or ""
local pace = tonumber(os.getenv("BENCH_PACE_MS") or "0")
wrk.path = os.getenv("BENCH_PATH") or "/api/pages"
if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
-- wrk starts a request's clock after the delay, so latency excludes the pacing.
if pace > 0 then delay = function() return pace end end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
