-- wrk -s verify.lua URL -- LOAD_KEYS INVALID_KEYS
-- POST {"key": KEY, "ip": CLIENT} to the URL's path (Keyward's
-- /api/v1/keys/verify or the bare server's /verify). CLIENT is the address
-- the key is presented from (the same as X-Forwarded-For), inside the load
-- keys' IP allowlists. See common.lua for the key mix.
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
  end)
end

function request()
  return nextRequest()
end
