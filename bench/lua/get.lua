-- GET the URL's path; with BENCH_AUTH set, as a host with that API key.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local key = os.getenv("BENCH_AUTH")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
