-- wrk script: POST /orders for one unit of a random seeded product, as a signed-in user.
-- BENCH_TOKEN and BENCH_PRODUCTS (comma-separated ids) come from the environment.
-- Every request carries an Idempotency-Key of its own: "bench-<start time>-<thread>-<n>".
local token = os.getenv("BENCH_TOKEN")
local products = {}
for id in string.gmatch(os.getenv("BENCH_PRODUCTS") or "", "[^,]+") do
  products[#products + 1] = id
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local prefix, counter = "bench", 0
function init(args)
  prefix = "bench-" .. os.time() .. "-" .. tostring(id or 0)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  local product = products[math.random(#products)]
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. counter
  return wrk.format(nil, "/orders", nil, '{"items":[{"productId":"' .. product .. '","qty":1}]}')
end
