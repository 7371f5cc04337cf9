-- The plugin's heartbeat with license keys drawn at random from BENCH_KEYS (the harness writes
-- 5,000 live keys there), as many servers beating at once would send them. The per-license limit
-- (one heartbeat per 5 s by default) stays on, so a key drawn again too soon is answered 429 with
-- Retry-After, as production answers it. wrk counts those among its status errors; the harness
-- counts them apart from the app's request log (bench/__main__.py), since a response() callback
-- here would cost wrk, on the same two cores, a Lua call and a parsed response per request.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  keys = read_lines(os.getenv("BENCH_KEYS"))
  math.randomseed(os.time() * 7 + id)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local key = keys[math.random(#keys)]
  local body = '{"license_key": "' .. key .. '", "version": "2.4.1", "players": ' .. math.random(0, 99) .. '}'
  return wrk.format(nil, nil, nil, body)
end
