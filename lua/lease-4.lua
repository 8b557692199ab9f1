--[[
lease: one rack's uplink budget, shared by every transfer. At most `slots` hosts of the
rack hold a lease at a time; only a holder may be a representative (take peers from other
racks) in any transfer. A holder serves every transfer it takes part in. The announce
script of each transfer asks here (claim), renews its representatives' leases (renew) and
gives them back (release); it keeps a copy of each lease it was granted, checked against
the lease's slot and fencing token (see announce-6.lua).

KEYS[1] holdersKey  rack:{R}:holders  hash: host -> '<slot> <token> <expiresAt>'
KEYS[2] servingKey  rack:{R}:serving  hash: '<INFOHASH> <host>' -> '<expiresAt> <priority> <L|S>'
KEYS[3] waitingKey  rack:{R}:waiting  hash: INFOHASH -> '<since> <priority> <askedAt>'
KEYS[4] epochKey    rack:{R}:epoch    string: the last fencing token issued (never expires)

ARGV[1]  action        claim | renew | release
ARGV[2]  host          the client's IP address, text: one lease per host, whatever its port
ARGV[3]  infoHash      the transfer, 40 uppercase hex digits
ARGV[4]  priority      the transfer's: 0 urgent, 1 normal, 2 background
ARGV[5]  seeding       1 when the client has completed this transfer
ARGV[6]  slots         RACK_UPLINK_SLOTS
ARGV[7]  leaseTtl      seconds a lease lives without a renewal
ARGV[8]  transferReps  claim: the transfer's live representatives in this rack
ARGV[9]  token         renew: the token the transfer holds for this host
ARGV[10] headStart     seconds of waiting that one step of priority is worth
ARGV[11] waitTtl       seconds a waiting transfer stays queued without an announce asking

Output: { verdict, slot, token, expiresAt, displaced }
  verdict    granted   claim: the host holds a lease (new or its own) and serves the transfer
             held      renew: the lease stands, renewed to expiresAt
             waiting   claim: no slot; the transfer queued (it has no representative here)
             denied    claim: no slot; not queued (the transfer has a representative here)
             revoked   renew: the host no longer holds that lease (expired, taken, yielded)
             released  release: the host serves the transfer no more
  displaced  the host whose lease this claim took ('' for none)

Policy (README "Rack uplink budget"):
  - A claim by a host that already holds a lease is granted with that lease.
  - Otherwise the claim must be first in line: waiting transfers are ordered by
    since + priority * headStart (smaller first), so a step of priority is worth headStart
    seconds of waiting and nobody is overtaken for ever. A claim not first in line waits.
  - First in line, it takes, in this order: a free slot; for a transfer with no
    representative here, the slot of a holder whose duties are done (it seeds every
    transfer it serves, or serves none); the slot of a holder whose transfers all have a
    lower priority (the lowest first, then the newest lease).
  - A holder whose duties are done gives its lease up at its next renewal while a transfer
    waits, so the waiter's next claim finds the slot free.
Invariants, and why they hold:
  - At most `slots` live leases per rack, each on its own slot 1..slots: a lease is granted
    only on a slot no live lease holds, or on the slot of the one it revokes, inside this
    one script; scripts run one at a time.
  - Fencing tokens only grow: each grant takes INCR epochKey, which never expires, so a
    transfer that has seen token t for a slot can refuse any older grant of that slot.
  - A lease lives only while renewed: expiresAt = now + leaseTtl at each grant or renewal,
    and an expired lease counts as free.
Errors: none raised on purpose; the caller validates every argument.
]]

local holdersKey = KEYS[1]
local servingKey = KEYS[2]
local waitingKey = KEYS[3]
local epochKey = KEYS[4]

local action = ARGV[1]
local host = ARGV[2]
local infoHash = ARGV[3]
local priority = tonumber(ARGV[4])
local seeding = ARGV[5] == '1'
local slots = tonumber(ARGV[6])
local leaseTtl = tonumber(ARGV[7])
local transferReps = tonumber(ARGV[8])
local heldToken = ARGV[9]
local headStart = tonumber(ARGV[10])
local waitTtl = tonumber(ARGV[11])

local now = tonumber(redis.call('TIME')[1])
local expiresAt = now + leaseTtl
-- Rack state outlives its last lease by a margin, then goes by itself (the epoch stays).
local keyTtl = 2 * math.max(leaseTtl, waitTtl)

-- Live leases by host; expired ones and ones on a slot beyond `slots` are dropped here.
local holders, bySlot = {}, {}
do
  local flat = redis.call('HGETALL', holdersKey)
  for i = 1, #flat, 2 do
    local slot, token, expiry = string.match(flat[i + 1], '^(%d+) (%d+) (%d+)$')
    slot, expiry = tonumber(slot), tonumber(expiry)
    if slot and slot <= slots and expiry > now and not bySlot[slot] then
      holders[flat[i]] = { slot = slot, token = token, expiresAt = expiry }
      bySlot[slot] = flat[i]
    else
      redis.call('HDEL', holdersKey, flat[i])
    end
  end
end

-- Services by holder: which transfers each holder serves, at what priority, done or not.
-- Services of hosts without a live lease, and expired ones, are dropped here.
local services = {}
do
  local flat = redis.call('HGETALL', servingKey)
  for i = 1, #flat, 2 do
    local transfer, holder = string.match(flat[i], '^(%S+) (%S+)$')
    local expiry, servedPriority, state = string.match(flat[i + 1], '^(%d+) (%d) (%u)$')
    if holder and holders[holder] and tonumber(expiry) > now then
      services[holder] = services[holder] or {}
      services[holder][transfer] = { priority = tonumber(servedPriority), seeding = state == 'S' }
    else
      redis.call('HDEL', servingKey, flat[i])
    end
  end
end

local function serve(holder)
  redis.call('HSET', servingKey, infoHash .. ' ' .. holder, table.concat({ expiresAt, priority, seeding and 'S' or 'L' }, ' '))
  services[holder] = services[holder] or {}
  services[holder][infoHash] = { priority = priority, seeding = seeding }
  redis.call('EXPIRE', servingKey, keyTtl)
  -- A transfer with a representative here waits no more.
  redis.call('HDEL', waitingKey, infoHash)
end

local function dutiesDone(holder)
  for _, service in pairs(services[holder] or {}) do
    if not service.seeding then return false end
  end
  return true
end

local function revoke(holder)
  redis.call('HDEL', holdersKey, holder)
  for transfer in pairs(services[holder] or {}) do
    redis.call('HDEL', servingKey, transfer .. ' ' .. holder)
  end
  bySlot[holders[holder].slot] = nil
  holders[holder] = nil
  services[holder] = nil
end

local function grant(slot, token)
  holders[host] = { slot = slot, token = token, expiresAt = expiresAt }
  bySlot[slot] = host
  redis.call('HSET', holdersKey, host, table.concat({ slot, token, expiresAt }, ' '))
  redis.call('EXPIRE', holdersKey, keyTtl)
  serve(host)
end

-- Waiting transfers that still ask, by rank; forgotten when no announce asked for waitTtl.
local function waiters()
  local live = {}
  local flat = redis.call('HGETALL', waitingKey)
  for i = 1, #flat, 2 do
    local since, waitPriority, askedAt = string.match(flat[i + 1], '^(%d+) (%d) (%d+)$')
    if since and tonumber(askedAt) > now - waitTtl then
      live[flat[i]] = { since = tonumber(since), rank = tonumber(since) + tonumber(waitPriority) * headStart }
    else
      redis.call('HDEL', waitingKey, flat[i])
    end
  end
  return live
end

if action == 'release' then
  redis.call('HDEL', servingKey, infoHash .. ' ' .. host)
  if holders[host] then
    if services[host] then services[host][infoHash] = nil end
    if next(services[host] or {}) == nil then revoke(host) end
  end
  return { 'released', 0, 0, 0, '' }
end

if action == 'renew' then
  local lease = holders[host]
  if not lease or lease.token ~= heldToken then
    redis.call('HDEL', servingKey, infoHash .. ' ' .. host)
    return { 'revoked', 0, 0, 0, '' }
  end
  serve(host)
  if dutiesDone(host) and next(waiters()) ~= nil then
    revoke(host)
    return { 'revoked', 0, 0, 0, '' }
  end
  lease.expiresAt = expiresAt
  redis.call('HSET', holdersKey, host, table.concat({ lease.slot, lease.token, expiresAt }, ' '))
  redis.call('EXPIRE', holdersKey, keyTtl)
  return { 'held', lease.slot, tonumber(lease.token), expiresAt, '' }
end

-- claim
local own = holders[host]
if own then
  grant(own.slot, own.token)
  return { 'granted', own.slot, tonumber(own.token), expiresAt, '' }
end

-- Whether the transfer has a representative here. The transfer's count may be a moment
-- old: a holder serving it now, granted since, counts too.
local served = transferReps > 0
for _, holderServices in pairs(services) do
  if holderServices[infoHash] then served = true end
end

local queue = waiters()
local mine = queue[infoHash]
local since = mine and mine.since or now
local myRank = since + priority * headStart
local firstInLine = true
for transfer, waiter in pairs(queue) do
  if transfer ~= infoHash and waiter.rank < myRank then firstInLine = false end
end

local slot, displaced = nil, ''
if firstInLine then
  for candidate = 1, slots do
    if not bySlot[candidate] then
      slot = candidate
      break
    end
  end
  if not slot then
    -- A holder whose duties are done (for a transfer with no representative here: a done
    -- holder still serves other racks over the connections it has), else the
    -- lowest-priority holder below this transfer.
    local victim, victimPriority, victimToken
    for holder, lease in pairs(holders) do
      if not served and dutiesDone(holder) then
        victim, victimPriority = holder, 3
        break
      end
      local top = 3
      for _, service in pairs(services[holder]) do
        if service.priority < top then top = service.priority end
      end
      local token = tonumber(lease.token)
      if top > priority and (not victim or top > victimPriority or (top == victimPriority and token > victimToken)) then
        victim, victimPriority, victimToken = holder, top, token
      end
    end
    if victim then
      slot, displaced = holders[victim].slot, victim
      revoke(victim)
    end
  end
end

if slot then
  local token = redis.call('INCR', epochKey)
  grant(slot, tostring(token))
  return { 'granted', slot, token, expiresAt, displaced }
end
if served then
  return { 'denied', 0, 0, 0, '' }
end
redis.call('HSET', waitingKey, infoHash, table.concat({ since, priority, now }, ' '))
redis.call('EXPIRE', waitingKey, keyTtl)
return { 'waiting', 0, 0, 0, '' }
