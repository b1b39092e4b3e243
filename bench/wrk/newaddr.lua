-- wrk -s newaddr.lua URL -- LOAD_KEYS INVALID_KEYS
-- verify.lua's load, except that one valid request in 100 comes from an
-- address its key was never seen from (see common.lua): Keyward records
-- each as a new address and writes a key.new_address event to the outbox,
-- which a webhook endpoint may be subscribed to. The bare server receives
-- the same bytes.
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

local nextRequest

setup = common.setup

function init(args)
  nextRequest = common.init(args, function(key, xff)
    return wrk.format("POST", wrk.path, {
      ["Content-Type"] = "application/json",
      ["X-Forwarded-For"] = xff,
    }, '{"key":"' .. key .. '","ip":"' .. xff .. '"}')
  end, 100)
end

function request()
  return nextRequest()
end
