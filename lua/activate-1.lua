--[[
activate: registers a transfer, so announces for it get peers.

KEYS[1] infoKey  {H}:info

ARGV[1] name    torrent name ('' when registered by bare info hash: keeps any stored name)
ARGV[2] length  payload bytes, decimal ('' when unknown)

Output: 1 when the transfer was not active before, 0 when it already was.
Errors: none raised on purpose; the caller validates every argument.
]]

local infoKey = KEYS[1]
local name = ARGV[1]
local length = ARGV[2]

local wasActive = redis.call('HGET', infoKey, 'active') == '1'
if not wasActive then
  redis.call('HSET', infoKey, 'active', '1', 'registered', redis.call('TIME')[1])
  redis.call('HDEL', infoKey, 'deregistered')
end
if name ~= '' then redis.call('HSET', infoKey, 'name', name) end
if length ~= '' then redis.call('HSET', infoKey, 'length', length) end
return wasActive and 0 or 1
