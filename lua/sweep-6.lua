--[[
sweep: drops every peer of one transfer not seen for peerTtl seconds, for swarms where
no announce comes along to prune lazily, and forgets racks left empty.

KEYS[1] infoKey          {H}:info
KEYS[2] peersKey         {H}:peers
KEYS[3] racksKey         {H}:racks
KEYS[4] repsLeechingKey  {H}:RL
KEYS[5] repsSeedingKey   {H}:RS
KEYS[6] originsKey       {H}:O

ARGV[1] rackPrefix  '{H}:rack:' (rack keys are <rackPrefix><rack>:L|S|R|F|C, and the cells
                    L.<c>|S.<c> of a rack the directory C names; see includes/cells)
ARGV[2] peerTtl     seconds without an announce after which a peer is dropped
ARGV[3] limit       most peers dropped by this call (bounds the time Redis is busy)

Output: { removed, more }  more = 1 when the limit was reached and another call should follow.
Invariant: removal goes through removePeer, so counters and indexes stay in step.
Errors: none raised on purpose; the caller validates every argument.
]]

local infoKey = KEYS[1]
local peersKey = KEYS[2]
local racksKey = KEYS[3]
local repsLeechingKey = KEYS[4]
local repsSeedingKey = KEYS[5]
local originsKey = KEYS[6]

local rackPrefix = ARGV[1]
local peerTtl = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])

local function rackKey(rack, set)
  return rackPrefix .. rack .. ':' .. set
end

-- @include scoreText
-- @include peerRecord
-- @include swarmCounters
-- @include cells
-- @include removePeer
-- @include prune

local cutoff = tonumber(redis.call('TIME')[1]) - peerTtl
local removed = 0
for _, rack in ipairs(redis.call('SMEMBERS', racksKey)) do
  if removed >= limit then break end
  local members = 0
  for c = 0, cellsOf(rack) - 1 do
    for _, set in ipairs({ 'L', 'S' }) do
      local key = cellKey(rack, set, c)
      if removed < limit then removed = removed + prune(key, cutoff, limit - removed, rack, set) end
      members = members + redis.call('ZCARD', key)
    end
  end
  -- A rack left empty goes, its cells with it; cells never merge while it has members.
  if members == 0 then
    redis.call('SREM', racksKey, rack)
    redis.call('DEL', rackKey(rack, 'R'), rackKey(rack, 'F'), rackKey(rack, 'C'))
    redis.call('HDEL', infoKey, cellsField(rack))
  end
end
for _, key in ipairs({ repsLeechingKey, repsSeedingKey, originsKey }) do
  if removed < limit then
    removed = removed + prune(key, cutoff, limit - removed)
  end
end
return { removed, removed >= limit and 1 or 0 }
