-- Removes up to `limit` members of a last-seen sorted set not seen since `cutoff`
-- (seconds), together with their records. Returns how many it removed, and which.
-- Needs: peersKey, removePeer.
local function prune(key, cutoff, limit)
  -- Nearly always nothing is stale, and counting is far cheaper than a ranged read.
  if redis.call('ZCOUNT', key, '-inf', cutoff) == 0 then return 0, {} end
  local stale = redis.call('ZRANGEBYSCORE', key, '-inf', cutoff, 'LIMIT', 0, limit)
  for _, address in ipairs(stale) do
    local record = redis.call('HGET', peersKey, address)
    if record then
      removePeer(address, record)
    else
      redis.call('ZREM', key, address)
    end
  end
  return #stale, stale
end
