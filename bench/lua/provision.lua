-- Provisioning as the ordinary hosts do it, round robin over their API keys, every server new
-- and most customers new. BENCH_BULK items per call: 0 sends one object, N an array of N.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  keys = read_lines(os.getenv("BENCH_HOST_KEYS"))
  threads = tonumber(os.getenv("BENCH_THREADS"))
  bulk = tonumber(os.getenv("BENCH_BULK"))
  nonce = os.getenv("BENCH_NONCE")
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

local function item()
  n = n + 1
  local name = nonce .. "-" .. id .. "-" .. n
  return '{"server_id": "bench-' .. name .. '", "hostname": "play-' .. name .. '.bench.example", ' ..
         '"customer_email": "gamer-' .. name .. '@bench.test"}'
end

function request()
  local key = keys[(n * threads + id) % #keys + 1]
  local body
  if bulk == 0 then
    body = item()
  else
    local items = {}
    for i = 1, bulk do
      items[i] = item()
    end
    body = "[" .. table.concat(items, ", ") .. "]"
  end
  -- wrk.format takes these headers instead of wrk.headers, not on top of them.
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Authorization"] = "Bearer " .. key
  return wrk.format(nil, nil, headers, body)
end
