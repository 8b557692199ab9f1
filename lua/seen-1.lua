--[[
seen: remembers an info hash that clients announce but nobody registered, in a bounded
index, so operators can see what hosts ask for without any client growing Redis.

KEYS[1] seenKey  transfers:seen  zset: info hash (40 uppercase hex) -> last seen (s)

ARGV[1] infoHash  40 uppercase hex digits
ARGV[2] seenMax   most hashes kept (the least recently seen go first; 0 keeps none)

Output: the number of hashes kept.
Invariant: ZCARD seenKey <= seenMax after every call, so a flood of unknown hashes costs
at most seenMax members.
Errors: none raised on purpose; the caller validates every argument.
]]

local seenKey = KEYS[1]

local infoHash = ARGV[1]
local seenMax = tonumber(ARGV[2])

if seenMax > 0 then
  redis.call('ZADD', seenKey, redis.call('TIME')[1], infoHash)
end
local count = redis.call('ZCARD', seenKey)
if count > seenMax then
  redis.call('ZREMRANGEBYRANK', seenKey, 0, count - seenMax - 1)
  count = seenMax
end
return count
