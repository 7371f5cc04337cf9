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

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
    '"errors": {"status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
