-- wrk script: GET /products/{id} for a random seeded product.
-- BENCH_PRODUCTS (comma-separated ids) comes from the environment.
local products = {}
for id in string.gmatch(os.getenv("BENCH_PRODUCTS") or "", "[^,]+") do
  products[#products + 1] = id
end

request = function()
  return wrk.format("GET", "/products/" .. products[math.random(#products)])
end
