-- Removes up to `limit` members of a last-seen sorted set not seen since `cutoff`
-- (seconds), together with their records. Returns how many it removed, which, and how
-- many of them were representatives. For a rack's set, `rack` and `set` name it, so that a
-- member without a record leaves its cell's count too.
-- Needs: peersKey, removePeer, cellRemove, scoreText.
local function prune(key, cutoff, limit, rack, set)
  -- Nearly always nothing is stale, and counting is far cheaper than a ranged read.
  if redis.call('ZCOUNT', key, '-inf', scoreText(cutoff)) == 0 then return 0, {}, 0 end
  local stale = redis.call('ZRANGEBYSCORE', key, '-inf', scoreText(cutoff), 'LIMIT', 0, limit)
  local reps = 0
  for i = 1, #stale do
    local address = stale[i]
    local record = redis.call('HGET', peersKey, address)
    if record then
      if removePeer(address, record) then reps = reps + 1 end
    elseif rack then
      cellRemove(rack, set, address)
    else
      redis.call('ZREM', key, address)
    end
  end
  return #stale, stale, reps
end
