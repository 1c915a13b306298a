-- wrk script: POST /orders for one unit of a random seeded product, as a signed-in user.
-- BENCH_TOKEN and BENCH_PRODUCTS (comma-separated ids) come from the environment.
local token = os.getenv("BENCH_TOKEN")
local products = {}
for id in string.gmatch(os.getenv("BENCH_PRODUCTS") or "", "[^,]+") do
  products[#products + 1] = id
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  local id = products[math.random(#products)]
  return wrk.format(nil, "/orders", nil, '{"items":[{"productId":"' .. id .. '","qty":1}]}')
end
