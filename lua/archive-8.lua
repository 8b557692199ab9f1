--[[
archive: ends a transfer and keeps it as history. Announces for it get no peers from now
on; every key of the transfer is renamed to <archivePrefix><UTC time>:<key> (the seed's
"datetime:hash"), which keeps the {H} hash tag, so the archive stays in the transfer's
cluster slot and {H}:* names only a live transfer. Archived keys expire after archiveTtl.

KEYS[1] infoKey          {H}:info
KEYS[2] peersKey         {H}:peers
KEYS[3] racksKey         {H}:racks
KEYS[4] repsLeechingKey  {H}:RL
KEYS[5] repsSeedingKey   {H}:RS
KEYS[6] originsKey       {H}:O
KEYS[7] torrentKey       {H}:torrent
KEYS[8] archivesKey      archives:{H}  zset: this transfer's archive stamps, by deactivation time (s);
                         outside {H}:* (which names only a live transfer), in the same slot

ARGV[1] rackPrefix     '{H}:rack:' (rack keys are <rackPrefix><rack>:L|S|R|F|C, and the
                       cells L.<c>|S.<c> its directory C names; see includes/cells)
ARGV[2] archivePrefix  'archive:'
ARGV[3] archiveTtl     seconds the archived keys live

Output: { status, stamp, peers, deregistered }
  status  1 archived; 0 no such transfer (nothing changed); -1 an archive of this
          transfer with the same stamp exists (archived within the same second)
  stamp   the UTC time in the archived keys' names, e.g. 20261128T053000Z ('' unless 1)
  peers   peer records the archive holds
  deregistered  Unix seconds of the deactivation (0 unless status 1)
Invariant: the rename is one atomic step: no announce sees half a transfer archived.
Errors: none raised on purpose; the caller validates every argument.
]]

local infoKey = KEYS[1]
local peersKey = KEYS[2]
local racksKey = KEYS[3]
local repsLeechingKey = KEYS[4]
local repsSeedingKey = KEYS[5]
local originsKey = KEYS[6]
local torrentKey = KEYS[7]
local archivesKey = KEYS[8]

local rackPrefix = ARGV[1]
local archivePrefix = ARGV[2]
local archiveTtl = tonumber(ARGV[3])

-- @include utcStamp

if redis.call('EXISTS', infoKey) == 0 then
  return { 0, '', 0, 0 }
end
local now = tonumber(redis.call('TIME')[1])
local stamp = utcStamp(now)
local prefix = archivePrefix .. stamp .. ':'
if redis.call('EXISTS', prefix .. infoKey) == 1 then
  return { -1, '', 0, 0 }
end

redis.call('HSET', infoKey, 'active', '0', 'deregistered', now)
local keys = { infoKey, peersKey, repsLeechingKey, repsSeedingKey, originsKey, torrentKey }
for _, rack in ipairs(redis.call('SMEMBERS', racksKey)) do
  local rackKey = rackPrefix .. rack .. ':'
  for _, set in ipairs({ 'L', 'S', 'R', 'F', 'C' }) do
    keys[#keys + 1] = rackKey .. set
  end
  -- Cells 1 .. n-1 of a rack kept in cells (includes/cells).
  local cells = string.match(redis.call('HGET', infoKey, 'cells ' .. rack) or '', '^(%d+)')
  for c = 1, (tonumber(cells) or 1) - 1 do
    keys[#keys + 1] = rackKey .. 'L.' .. c
    keys[#keys + 1] = rackKey .. 'S.' .. c
  end
end
keys[#keys + 1] = racksKey
local peers = redis.call('HLEN', peersKey)
for _, key in ipairs(keys) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('RENAME', key, prefix .. key)
    redis.call('EXPIRE', prefix .. key, archiveTtl)
  end
end
-- The newest archive lives longest, so the index lives as long as it does; entries of
-- archives that expired are dropped on the way.
redis.call('ZADD', archivesKey, now, stamp)
redis.call('ZREMRANGEBYSCORE', archivesKey, '-inf', now - archiveTtl)
redis.call('EXPIRE', archivesKey, archiveTtl)
return { 1, stamp, peers, now }
