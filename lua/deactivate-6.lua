--[[
deactivate: ends a transfer. Its swarm is deleted at once (announces for it now get no
peers); {H}:info stays as the transfer's history, with active = 0 and deregistered set.

KEYS[1] infoKey          {H}:info
KEYS[2] peersKey         {H}:peers
KEYS[3] racksKey         {H}:racks
KEYS[4] repsLeechingKey  {H}:RL
KEYS[5] repsSeedingKey   {H}:RS
KEYS[6] originsKey       {H}:O

ARGV[1] rackPrefix  '{H}:rack:' (rack keys are <rackPrefix><rack>:L|S|R)

Output: { wasActive, peersRemoved }
Errors: none raised on purpose; the caller validates every argument.
]]

local infoKey = KEYS[1]
local peersKey = KEYS[2]
local racksKey = KEYS[3]
local repsLeechingKey = KEYS[4]
local repsSeedingKey = KEYS[5]
local originsKey = KEYS[6]

local rackPrefix = ARGV[1]

local wasActive = redis.call('HGET', infoKey, 'active') == '1'
local peersRemoved = redis.call('HLEN', peersKey)
for _, rack in ipairs(redis.call('SMEMBERS', racksKey)) do
  redis.call('DEL', rackPrefix .. rack .. ':L', rackPrefix .. rack .. ':S', rackPrefix .. rack .. ':R')
end
redis.call('DEL', peersKey, racksKey, repsLeechingKey, repsSeedingKey, originsKey)
if wasActive then
  redis.call('HSET', infoKey, 'active', '0', 'deregistered', redis.call('TIME')[1], 'seeders', 0, 'leechers', 0)
end
return { wasActive and 1 or 0, peersRemoved }
