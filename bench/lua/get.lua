-- GET the URL's path; with BENCH_AUTH set, as a host with that API key; with BENCH_COOKIE, as a
-- signed-in partner user (the portal's pages).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local key = os.getenv("BENCH_AUTH")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
