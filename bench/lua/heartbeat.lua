-- The plugin's heartbeat, each request with another license key, so the per-license limit (one
-- heartbeat per 5 s by default) stays on and is never what answers. Thread t of BENCH_THREADS
-- walks keys BENCH_OFFSET + t, + BENCH_THREADS, ...: no key twice until the whole list has gone
-- by (about a minute and a half at 2,000 requests a second over 180,000 keys).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  keys = read_lines(os.getenv("BENCH_KEYS"))
  threads = tonumber(os.getenv("BENCH_THREADS"))
  position = tonumber(os.getenv("BENCH_OFFSET")) + id
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local key = keys[position % #keys + 1]
  position = position + threads
  local body = '{"license_key": "' .. key .. '", "version": "2.4.1", "players": ' .. (position % 100) .. '}'
  return wrk.format(nil, nil, nil, body)
end
