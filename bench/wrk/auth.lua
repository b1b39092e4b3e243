-- wrk -s auth.lua URL -- LOAD_KEYS INVALID_KEYS
-- GET the URL's path (Keyward's /api/v1/auth or the bare server's /auth)
-- with "Authorization: Bearer KEY", as nginx auth_request or Traefik
-- forwardAuth would. See common.lua for the key mix.
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

local nextRequest

setup = common.setup

function init(args)
  nextRequest = common.init(args, function(key, xff)
    return wrk.format("GET", wrk.path, {
      ["Authorization"] = "Bearer " .. key,
      ["X-Forwarded-For"] = xff,
    })
  end)
end

function request()
  return nextRequest()
end
