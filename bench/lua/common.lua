-- Shared by every script (loaded with dofile): the production proxy's header, and one JSON line
-- with the run's figures for the harness to read, so it never parses wrk's human output.

wrk.headers["X-Forwarded-Proto"] = "https"  -- as the TLS proxy sets it; SECURE_SSL_REDIRECT stays on

function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    lines[#lines + 1] = line
  end
  return lines
end

-- A script that counts its 429s per thread (`refused`) lists its threads here, from setup().
bench_threads = {}

function done(summary, latency, requests)
  local e = summary.errors
  local refused = 0
  for _, thread in ipairs(bench_threads) do
    refused = refused + (thread:get("refused") or 0)
  end
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
    '"refused": %d, "errors": {"status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    refused, e.status, e.connect, e.read, e.write, e.timeout))
end
