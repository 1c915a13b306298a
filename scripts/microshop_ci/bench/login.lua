-- wrk script: POST /auth/login as the seeded shopper (BENCH_EMAIL, BENCH_PASSWORD).
-- Each request names its own client in X-Forwarded-For ("10.<thread>.<n>"), as the storefront
-- does for its visitors: the sign-in limits key on the client, and concurrent attempts of one
-- client count as failures until their password is checked.
local body = '{"email":"' .. os.getenv("BENCH_EMAIL") .. '","password":"'
  .. os.getenv("BENCH_PASSWORD") .. '"}'

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local n = counter % 65536
  wrk.headers["X-Forwarded-For"] = "10." .. tostring(id or 0) .. "."
    .. tostring(math.floor(n / 256)) .. "." .. tostring(n % 256)
  return wrk.format(nil, "/auth/login", nil, body)
end
