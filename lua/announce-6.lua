--[[
announce: records one announce of one client for one transfer, elects representatives
and selects the peers to return, in one atomic step.

KEYS[1] infoKey          {H}:info   hash: active, counters (seeders, leechers, completed), timestamps
KEYS[2] peersKey         {H}:peers  hash: compact address -> peer record (see includes/peerRecord)
KEYS[3] racksKey         {H}:racks  set: racks holding peers; lets the sweep find rack keys
KEYS[4] repsLeechingKey  {H}:RL     zset: representatives still downloading, all racks, by last seen (s)
KEYS[5] repsSeedingKey   {H}:RS     zset: representatives that have completed, all racks, by last seen (s)
KEYS[6] originsKey       {H}:O      zset: origin seeders (complete at their first announce), by last seen (s)

ARGV[1]  rackPrefix    '{H}:rack:'; rack keys are <rackPrefix><rack>:L|S|R|F (same slot as KEYS)
ARGV[2]  address       compact address: 4-byte IPv4 or 16-byte IPv6, then 2-byte port, network order
ARGV[3]  rack          the client's resolved location ('*' for every client in flat mode)
ARGV[4]  peerId        the client's peer_id, 20 raw bytes
ARGV[5]  event         '' | started | completed | stopped | paused
ARGV[6]  left          bytes left, decimal (0 = seeder)
ARGV[7]  uploaded      bytes, decimal
ARGV[8]  downloaded    bytes, decimal
ARGV[9]  numwant       peers wanted, already capped by MAXPEERS
ARGV[10] withPeerIds   1: also return the peer id of every selected peer
ARGV[11] maxRepr       MAX_REPR_RACK
ARGV[12] peerTtl       seconds without an announce after which a peer is dropped
ARGV[13] autoActivate  1: an unknown transfer becomes active on its first announce
ARGV[14] rackAware     1: two-tier swarms; 0: flat, everyone samples the whole swarm
ARGV[15] seed          seed for math.random, so a test can replay a selection
ARGV[16] pruneLimit    most stale peers dropped per pruned set in this call
ARGV[17] lease         the rack's verdict on this client's lease (lease-4.lua), for the
                       second call of one announce: '' none asked yet (first call);
                       '<slot> <token> <expiresAt>' granted; '-' refused or revoked
ARGV[18] slots         RACK_UPLINK_SLOTS: representatives per rack are min(maxRepr, slots)
ARGV[19] leaseTtl      seconds a lease lives without a renewal

Output: { status, seeders, leechers, peers4, peers6, role, activated, peerIds, elected, failover,
          leaseAsk, leaseSlot, leaseToken, rackReps, priority }
  status     1 active transfer, 0 not registered (nothing stored, no peers)
  peers4     concatenated 6-byte compact IPv4 peers; peers6 the same with 18-byte entries
  role       'rep' | 'origin' | 'member' ('' when nothing was stored or it stopped)
  activated  1 when this call activated the transfer (AUTO_ACTIVATE)
  peerIds    { address, peerId (20 raw bytes), ... } for the selected peers when withPeerIds, else {}
  elected    1 when this call made the client a representative (it held no live slot before)
  failover   1 when that election took the slot of a representative that went silent:
             this call's prune of the rack dropped one (the client's own expired record
             included), or one whose lease copy expired still sits in the rack's R set. A
             first call that asks to claim sets it when such a slot is vacant. A
             representative that announced `stopped`, or one the sweep dropped first, hands
             its slot over without a failover.
  leaseAsk   what the caller must ask the rack's lease script (first call only):
             'claim'   the rack has fewer than its representatives here and the client is
                       a leecher: ask for a lease, then call again with the verdict
             'renew'   the client is a representative: renew lease leaseSlot/leaseToken;
                       if revoked, call again with lease '-'
             'release' the client was a representative and stopped
             ''        nothing
  rackReps   live representatives of the client's rack after this call
  priority   the transfer's priority: 0 urgent, 1 normal (default), 2 background

One announce may take two calls (claim or a revoked renewal): the second call records the
same announce again, which changes nothing (same scores, same record, counters move only
on a change of state), then elects and selects with the lease it was given.

Rack keys: {H}:rack:<rack>:L leechers, :S seeders (zsets by last seen, s); :R representatives
(zset by the expiry of their lease's copy, s); :F the fence, hash slot -> '<token> <address>'
of the newest lease this transfer accepted on each of the rack's slots. A large rack keeps
its L and S in cells (:L.<c>, :S.<c>, directory :C, and 'cells <rack>' in {H}:info; see
includes/cells): every cell set stays a small listpack.

Invariants, and why they hold:
  - At most min(maxRepr, slots) live representatives per rack, each holding a lease:
    a client becomes one only in a call given a lease the rack granted (slot, token,
    expiresAt), when fewer are live; R counts members whose lease copy has not expired.
  - Fencing: a lease is accepted only if its token is at least the fence's token for its
    slot; accepting it evicts whoever held that slot here under an older lease. So a late
    call carrying a superseded lease changes nothing, and no two representatives of this
    transfer share a slot.
  - A representative's copy expires with its lease: a renewal extends it by leaseTtl and
    the caller withdraws it (lease '-') when the rack says the lease is gone.
  - A client that is not a representative only ever gets members of its own rack's L/S
    sets: the outside sets (RL, RS, O) are read only for representatives and origins.
  - A seeder never gets a seeder: seeders draw only from L and RL.
  - Draws are uniform among the eligible members of the sets drawn from, across cells
    too: a window of numwant places from a uniform start over the rack's cells in order
    (includes/sampleCells) gives every member the same chance.
  - Dead peers (not seen for peerTtl) are neither returned nor hold a representative
    slot: draws and the election skip members last seen at or before the cutoff. Pruning
    removes them for good, at most pruneLimit per set and call; the sweep does the rest.
  - seeders/leechers in {H}:info change only together with a record in {H}:peers.
Errors: none raised on purpose; the caller validates every argument.
]]

local infoKey = KEYS[1]
local peersKey = KEYS[2]
local racksKey = KEYS[3]
local repsLeechingKey = KEYS[4]
local repsSeedingKey = KEYS[5]
local originsKey = KEYS[6]

local rackPrefix = ARGV[1]
local address = ARGV[2]
local resolvedRack = ARGV[3]
local peerId = ARGV[4]
local event = ARGV[5]
local left = ARGV[6]
local uploaded = ARGV[7]
local downloaded = ARGV[8]
local numwant = tonumber(ARGV[9])
local withPeerIds = ARGV[10] == '1'
local maxRepr = tonumber(ARGV[11])
local peerTtl = tonumber(ARGV[12])
local autoActivate = ARGV[13] == '1'
local rackAware = ARGV[14] == '1'
local pruneLimit = tonumber(ARGV[16])
local lease = ARGV[17]
local slots = tonumber(ARGV[18])
local leaseTtl = tonumber(ARGV[19])
math.randomseed(tonumber(ARGV[15]))

local function rackKey(rack, set)
  return rackPrefix .. rack .. ':' .. set
end

-- @include scoreText
-- @include peerRecord
-- @include swarmCounters
-- @include cells
-- @include removePeer
-- @include prune
-- @include splitDraws
-- @include drawInto
-- @include sampleUnion
-- @include sampleCells

local nowText = redis.call('TIME')[1]
local now = tonumber(nowText)
scoreTexts[now] = nowText

local info = redis.call('HMGET', infoKey, 'active', 'seeders', 'leechers', 'first_started', 'first_completed', 'priority',
  cellsField(resolvedRack))
knowCells(resolvedRack, info[7])
local priority = tonumber(info[6]) or 1
swarmCounters.seeders, swarmCounters.leechers = tonumber(info[2]) or 0, tonumber(info[3]) or 0
local activated = 0
if info[1] ~= '1' then
  if not autoActivate then
    return { 0, 0, 0, '', '', '', 0, {}, 0, 0, '', 0, 0, 0, priority }
  end
  redis.call('HSET', infoKey, 'active', '1', 'registered', nowText)
  redis.call('HDEL', infoKey, 'deregistered')
  activated = 1
end

-- Prune what this announce counts or draws from, before touching it: a set whose prune
-- stopped short of the limit holds no dead member, so its draws need no liveness check.
-- Returns whether the prune removed this client. repsDropped counts, per set, the
-- representatives a prune dropped: a slot of the rack fell vacant by expiry.
local cutoff = now - peerTtl
local clean = {}
local repsDropped = {}
local prunedFrom = {}
local function pruneAll(key, rack, set)
  if clean[key] ~= nil then return false end
  local removed, stale, reps = prune(key, cutoff, pruneLimit, rack, set)
  clean[key] = removed < pruneLimit
  repsDropped[key] = reps
  prunedFrom[key] = removed
  for i = 1, #stale do
    if stale[i] == address then return true end
  end
  return false
end

-- The stored rack wins: a client keeps its first rack for the life of its record. Only a
-- switch between flat and rack-aware mode moves it, since the flat rack means "no rack".
-- A record whose client went silent for peerTtl is dropped: the prune of its own set
-- removes it or, when that prune hit its limit first, its last-seen score tells.
local record = redis.call('HGET', peersKey, address)
local rack, state
local expiredRep = false
if record then
  rack, state = parseRackAndState(record)
  if (rack == '*') == rackAware then
    removePeer(address, record)
    record = nil
  else
    local ownSet = state == 'L' and 'L' or 'S'
    local ownKey = memberKey(rack, ownSet, address)
    if pruneAll(ownKey, rack, ownSet) then
      record = nil
    elseif not clean[ownKey] then
      local lastSeen = redis.call('ZSCORE', ownKey, address)
      if not lastSeen or tonumber(lastSeen) <= cutoff then
        expiredRep = removePeer(address, record)
        record = nil
      end
    end
  end
end

if event == 'stopped' then
  local wasRep = record and removePeer(address, record)
  return {
    1, swarmCounters.seeders, swarmCounters.leechers, '', '', '', activated, {}, 0, 0,
    (wasRep or expiredRep) and 'release' or '', 0, 0, 0, priority
  }
end

-- An origin is complete at its first announce; a first announce that *is* the completion
-- (say, its record expired mid-download) is an ordinary seeder and counts as a completion.
local complete = left == '0' or event == 'completed'
local previousState = state
if not record then
  rack = resolvedRack
  state = event == 'completed' and 'S' or complete and 'O' or 'L'
elseif not complete then
  state = 'L'
elseif state == 'L' then
  state = 'S'
end
local seeding = state ~= 'L'
-- The set that holds the client is pruned here; a rack in one cell has both its sets
-- pruned (a member draws from both), the cells of a larger one when drawn from.
local leechersKey = memberKey(rack, 'L', address)
local seedersKey = memberKey(rack, 'S', address)
local rackRepsKey = rackKey(rack, 'R')
if seeding or cellsOf(rack) == 1 then pruneAll(seedersKey, rack, 'S') end
if not seeding or cellsOf(rack) == 1 then pruneAll(leechersKey, rack, 'L') end

-- Counters follow the record: a new record adds one, a change of side moves one.
local stateChanged = record and previousState ~= state
if not record then
  addToCounter(seeding and 'seeders' or 'leechers', 1)
elseif stateChanged then
  addToCounter(seeding and 'leechers' or 'seeders', -1)
  addToCounter(seeding and 'seeders' or 'leechers', 1)
  cellRemove(rack, seeding and 'L' or 'S', address)
  if previousState == 'O' then redis.call('ZREM', originsKey, address) end
end
if state == 'S' and (stateChanged or not record) then
  redis.call('HINCRBY', infoKey, 'completed', 1)
  if info[5] then
    redis.call('HSET', infoKey, 'last_completed', nowText)
  else
    redis.call('HSET', infoKey, 'last_completed', nowText, 'first_completed', nowText)
  end
end
if event == 'started' then
  if info[4] then
    redis.call('HSET', infoKey, 'last_started', nowText)
  else
    redis.call('HSET', infoKey, 'last_started', nowText, 'first_started', nowText)
  end
end

cellAdd(rack, seeding and 'S' or 'L', address, now)
-- An added member may have split a cell, the client's own among them.
leechersKey = memberKey(rack, 'L', address)
seedersKey = memberKey(rack, 'S', address)
if not record then redis.call('SADD', racksKey, rack) end
-- The last event and its time carry over periodic announces (no event).
local EVENT_LETTERS = { [''] = '-', started = 's', completed = 'c', paused = 'p' }
local eventLetter, eventTime = EVENT_LETTERS[event], nowText
if event == '' and record then
  local letter, time = string.match(record, '^%S+ %u(%S) (%d+)')
  eventLetter, eventTime = letter or '-', time or nowText
end
redis.call('HSET', peersKey, address, table.concat({
  rack, state .. eventLetter, eventTime, left, uploaded, downloaded, peerId
}, ' '))

-- Election: origins serve everyone through the O set and never take a rack's slot. The
-- rack's R set (a few members) is read once with scores: members whose lease copy is live
-- are the representatives; it tells whether the client is one, how many slots this
-- transfer fills here, and which rack mates a representative must not count as outside
-- peers. Only a lease from the rack's lease script makes a representative (see the header).
local role = 'member'
local rackReps = {}
local elected, failover = 0, 0
local leaseAsk, leaseSlot, leaseToken = '', 0, 0
local fenceKey = rackKey(rack, 'F')
local function demote(member)
  redis.call('ZREM', rackRepsKey, member)
  redis.call('ZREM', repsLeechingKey, member)
  redis.call('ZREM', repsSeedingKey, member)
end
local function represent(expiresAt)
  role = 'rep'
  redis.call('ZADD', rackRepsKey, expiresAt, address)
  redis.call('ZADD', seeding and repsSeedingKey or repsLeechingKey, nowText, address)
  if stateChanged then
    redis.call('ZREM', seeding and repsLeechingKey or repsSeedingKey, address)
  end
end
if state == 'O' then
  role = 'origin'
  redis.call('ZADD', originsKey, nowText, address)
  rackReps = redis.call('ZRANGE', rackRepsKey, 0, -1)
elseif rackAware then
  local scored = redis.call('ZRANGE', rackRepsKey, 0, -1, 'WITHSCORES')
  local isRep, lapsed, expiredCopies = false, false, 0
  for i = 1, #scored, 2 do
    if tonumber(scored[i + 1]) > now then
      rackReps[#rackReps + 1] = scored[i]
      if scored[i] == address then isRep = true end
    else
      expiredCopies = expiredCopies + 1
      if scored[i] == address then lapsed = true end
    end
  end
  local cap = math.min(maxRepr, slots)
  if lapsed then
    -- Its lease lapsed: out of the outside tier until a new lease comes.
    demote(address)
    expiredCopies = expiredCopies - 1
  end
  -- A slot fell vacant because its representative went silent.
  local lostRep = expiredRep or expiredCopies > 0
    or (repsDropped[leechersKey] or 0) + (repsDropped[seedersKey] or 0) > 0
  if lease == '' then
    if isRep then
      -- Served as a representative now; the caller renews the lease and withdraws the
      -- copy (lease '-') if the rack says it is gone.
      represent(now + leaseTtl)
      leaseAsk = 'renew'
      -- Its newest lease: one it held on another slot before may still be in the fence.
      local fence = redis.call('HGETALL', fenceKey)
      for i = 1, #fence, 2 do
        local token, holder = string.match(fence[i + 1], '^(%d+) (.*)$')
        if holder == address and tonumber(token) > leaseToken then
          leaseSlot, leaseToken = tonumber(fence[i]), tonumber(token)
        end
      end
    elseif not seeding and #rackReps < cap then
      leaseAsk = 'claim'
      -- The second call runs after this one's prunes: it learns of the loss from here.
      if lostRep then failover = 1 end
    end
  elseif lease == '-' then
    if isRep then
      demote(address)
      for i = #rackReps, 1, -1 do
        if rackReps[i] == address then table.remove(rackReps, i) end
      end
    end
  else
    local slot, token, expiresAt = string.match(lease, '^(%d+) (%d+) (%d+)$')
    token, expiresAt = tonumber(token), tonumber(expiresAt)
    local fenced = redis.call('HGET', fenceKey, slot)
    local fencedToken, fencedHolder = 0, nil
    if fenced then
      fencedToken, fencedHolder = string.match(fenced, '^(%d+) (.*)$')
      fencedToken = tonumber(fencedToken)
    end
    -- Whoever held this slot here under an older lease holds it no more.
    if fencedHolder and fencedHolder ~= address and token > fencedToken then
      demote(fencedHolder)
      for i = #rackReps, 1, -1 do
        if rackReps[i] == fencedHolder then table.remove(rackReps, i) end
      end
    end
    if token >= fencedToken and expiresAt > now and (isRep or #rackReps < cap) then
      redis.call('HSET', fenceKey, slot, token .. ' ' .. address)
      if not isRep then
        elected = 1
        rackReps[#rackReps + 1] = address
        if lostRep then failover = 1 end
      end
      represent(expiresAt)
    end
  end
end

-- Selection.
local selected = {}
local exclude = { [address] = true }
if role ~= 'member' then
  pruneAll(repsLeechingKey)
  pruneAll(repsSeedingKey)
  pruneAll(originsKey)
  -- Own-rack representatives are rack mates, not outside peers.
  for i = 1, #rackReps do exclude[rackReps[i]] = true end
  local outside = seeding and { repsLeechingKey } or { repsLeechingKey, repsSeedingKey, originsKey }
  sampleUnion(selected, outside, numwant, exclude, cutoff, clean, nil)
  -- Own-rack representatives were held back from the outside draw; they may fill below.
  for i = 1, #rackReps do
    if rackReps[i] ~= address then exclude[rackReps[i]] = nil end
  end
end
-- Outside picks are other racks' representatives and origins. An origin of the client's own
-- rack is in the O set and in the rack's S set: one drawn from O is held back from S, so no
-- reply names it twice. Only leeching representatives draw both (a few per rack).
local fromOutside = role ~= 'member' and not seeding and #selected > 0
if cellsOf(rack) == 1 then
  local mates = seeding and { leechersKey } or { leechersKey, seedersKey }
  local selfHeld = { [seeding and seedersKey or leechersKey] = 1 }
  if fromOutside then
    for i, score in ipairs(redis.call('ZMSCORE', seedersKey, unpack(selected))) do
      if score and tonumber(score) > cutoff then
        exclude[selected[i]] = true
        selfHeld[seedersKey] = (selfHeld[seedersKey] or 0) + 1
      end
    end
  end
  sampleUnion(selected, mates, numwant - #selected, exclude, cutoff, clean, selfHeld)
else
  local outsidePicks = fromOutside and { unpack(selected) } or {}
  for _, pick in ipairs(outsidePicks) do exclude[pick] = true end
  local function heldIn(key, set)
    if set ~= 'S' or #outsidePicks == 0 then return 0 end
    local held = 0
    for _, score in ipairs(redis.call('ZMSCORE', key, unpack(outsidePicks))) do
      if score and tonumber(score) > cutoff then held = held + 1 end
    end
    return held
  end
  local function pruneSet(key, setRack, set)
    local fresh = clean[key] == nil
    pruneAll(key, setRack, set)
    return fresh and prunedFrom[key] > 0
  end
  local ownSet = seeding and 'S' or 'L'
  sampleCells(selected, rack, seeding and { 'L' } or { 'L', 'S' }, numwant - #selected, exclude, cutoff, clean,
    { cell = cellOf(address, cellsOf(rack)), set = ownSet }, pruneSet, heldIn)
end

-- IPv4 peers are 6 bytes and IPv6 ones 18, so the packed length tells whether any IPv6
-- peer needs sorting out.
local peers4, peers6, peerIds = table.concat(selected), '', {}
if #peers4 ~= 6 * #selected then
  local v4, v6 = {}, {}
  for i = 1, #selected do
    local peer = selected[i]
    if #peer == 6 then v4[#v4 + 1] = peer else v6[#v6 + 1] = peer end
  end
  peers4, peers6 = table.concat(v4), table.concat(v6)
end
if withPeerIds and #selected > 0 then
  local records = redis.call('HMGET', peersKey, unpack(selected))
  for i, peer in ipairs(selected) do
    peerIds[#peerIds + 1] = peer
    peerIds[#peerIds + 1] = records[i] and string.sub(records[i], -20) or ''
  end
end

return {
  1, swarmCounters.seeders, swarmCounters.leechers, peers4, peers6, role, activated, peerIds, elected, failover,
  leaseAsk, leaseSlot, leaseToken, #rackReps, priority
}
