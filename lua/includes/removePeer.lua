-- Drops one peer from every index and its record, keeping the swarm counters exact. A
-- peer sits in the sets of its record's state only: L and RL while leeching, S and RS
-- once complete (every change of state moves it). Returns whether it was a representative.
-- Needs: peersKey, repsLeechingKey, repsSeedingKey, originsKey, rackKey(), addToCounter(),
-- cellRemove().
local function removePeer(address, record)
  local rack, state = parseRackAndState(record)
  local leeching = state == 'L'
  cellRemove(rack, leeching and 'L' or 'S', address)
  local wasRep = redis.call('ZREM', rackKey(rack, 'R'), address) == 1
  if wasRep then
    redis.call('ZREM', leeching and repsLeechingKey or repsSeedingKey, address)
  end
  if state == 'O' then
    redis.call('ZREM', originsKey, address)
  end
  redis.call('HDEL', peersKey, address)
  addToCounter(leeching and 'leechers' or 'seeders', -1)
  return wasRep
end
