-- Drops one peer from every index and its record, keeping the swarm counters exact.
-- Needs: peersKey, infoKey, repsLeechingKey, repsSeedingKey, originsKey, rackKey().
local function removePeer(address, record)
  local rack, state = parseRackAndState(record)
  redis.call('ZREM', rackKey(rack, 'L'), address)
  redis.call('ZREM', rackKey(rack, 'S'), address)
  if redis.call('ZREM', rackKey(rack, 'R'), address) == 1 then
    redis.call('ZREM', repsLeechingKey, address)
    redis.call('ZREM', repsSeedingKey, address)
  end
  if state == 'O' then
    redis.call('ZREM', originsKey, address)
  end
  redis.call('HDEL', peersKey, address)
  if state == 'L' then
    redis.call('HINCRBY', infoKey, 'leechers', -1)
  else
    redis.call('HINCRBY', infoKey, 'seeders', -1)
  end
end
