-- wrk script: PATCH a comment and a tag onto incidents drawn from $BENCH_IDS (one id per line).
-- wrk reports non-2xx answers itself ("Non-2xx or 3xx responses").
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  ids[#ids + 1] = line
end
local n = 0
request = function()
  n = n + 1
  local id = ids[math.random(#ids)]
  return wrk.format("PATCH", "/api/incidents/" .. id,
    { ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") },
    '{"comment":"bench ' .. n .. '","tags":["bench"]}')
end
