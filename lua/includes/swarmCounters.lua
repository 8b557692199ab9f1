-- The swarm counters of {H}:info (seeders, leechers) change only together with a peer
-- record, through addToCounter. swarmCounters holds each counter's value after this
-- call's last change of it, so a script can reply without reading them back.
-- Needs: infoKey.
local swarmCounters = {}
local function addToCounter(field, delta)
  swarmCounters[field] = redis.call('HINCRBY', infoKey, field, delta)
end
