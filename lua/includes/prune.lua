-- Removes up to `limit` members of a last-seen sorted set not seen since `cutoff`
-- (seconds), together with their records. Returns how many it removed, which, and how
-- many of them were representatives.
-- Needs: peersKey, removePeer.
local function prune(key, cutoff, limit)
  -- Nearly always nothing is stale, and counting is far cheaper than a ranged read.
  if redis.call('ZCOUNT', key, '-inf', cutoff) == 0 then return 0, {}, 0 end
  local stale = redis.call('ZRANGEBYSCORE', key, '-inf', cutoff, 'LIMIT', 0, limit)
  local reps = 0
  for _, address in ipairs(stale) do
    local record = redis.call('HGET', peersKey, address)
    if record then
      if removePeer(address, record) then reps = reps + 1 end
    else
      redis.call('ZREM', key, address)
    end
  end
  return #stale, stale, reps
end
