-- Shared by verify.lua and auth.lua: loads the keys the seed wrote and picks
-- the next one. Every 20th request (5%) carries a refused key (unknown,
-- malformed or revoked); the rest cycle through the valid load keys.
--
-- Keyward runs behind a trusted proxy in this benchmark (--trusted-proxies
-- 127.0.0.1) and every request carries X-Forwarded-For: each valid key comes
-- from its own service address (10.1.x.y), and each refused key from one of
-- 65,536 client addresses (10.2.x.y). Without that, all traffic would come
-- from 127.0.0.1 and its 5% of unknown keys (hundreds a second) would trip
-- Keyward's per-address guessing throttle (10 failures/s), which would then
-- answer 429 to everything: correct behaviour, but not the workload to
-- measure. The bare server receives the same bytes.

local M = {}

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

local function ip(prefix, n)
  return prefix .. math.floor(n / 256) % 256 .. "." .. n % 256
end

-- setup(thread) runs once per thread in the main state: give each thread its
-- own starting offset so the threads do not send the same key at once.
local next_id = 0
function M.setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

-- init builds every valid request once, so the load generator spends its
-- CPU on the network (it shares the 2 cores with the server), not in Lua.
-- build(key, xff) returns a formatted request.
--
-- fresh_every (optional, newaddr.lua): one valid request in fresh_every
-- comes from an address its key was never seen from (another of
-- 10.1.0.0/16, inside the load keys' allowlist), so Keyward records a new
-- address for the key, which is a key.new_address event in the outbox.
-- The addresses start at a random point, so each run's are new again.
function M.init(args, build, fresh_every)
  local valid = lines(args[1])
  local invalid = lines(args[2])
  local requests = {}
  for i, k in ipairs(valid) do
    requests[i] = build(k, ip("10.1.", i))
  end
  local id = thread_id or 0
  local counter = id * 7919
  local refused = id * 32768
  local fresh = 0
  if fresh_every then
    math.randomseed(os.time() * 7 + id)
    fresh = math.random(0, 65535)
  end
  return function()
    counter = counter + 1
    if counter % 20 == 0 then
      refused = refused + 1
      return build(invalid[refused % #invalid + 1], ip("10.2.", refused % 65536))
    end
    if fresh_every and counter % fresh_every == 1 then
      fresh = fresh + 1
      return build(valid[counter % #valid + 1], ip("10.1.", fresh % 65536))
    end
    return requests[counter % #requests + 1]
  end
end

return M
