--[[
register: makes a transfer active, so announces for it get peers, and keeps its .torrent.

KEYS[1] infoKey     {H}:info     hash: active, registered, name, length, piece_length, files, counters
KEYS[2] torrentKey  {H}:torrent  string: the .torrent file as uploaded

ARGV[1] name         torrent name ('' for a bare info hash: an active transfer keeps its name)
ARGV[2] length       payload bytes, decimal ('' when unknown)
ARGV[3] pieceLength  bytes per piece, decimal ('' when unknown)
ARGV[4] files        number of files, decimal ('' when unknown)
ARGV[5] torrent      the .torrent bytes ('' for a bare info hash)
ARGV[6] priority     0 urgent, 1 normal, 2 background: set on a new or active transfer
                     ('' keeps an active transfer's, and leaves a new one normal)

Output: { status, registered }
  status      1 registered now; 2 was active by bare info hash and now has its .torrent;
              0 already active, nothing changed; -1 a different .torrent with this info
              hash is stored (nothing changed)
  registered  Unix seconds of the registration that stands
  A priority given to an active transfer is set unless the status is -1 (it is not part
  of the .torrent; the rack budget reads it at the transfer's next announce).
Invariant: a transfer's .torrent never changes once stored: a second upload either is the
same bytes (no change) or is refused, so every replica serves the same file.
Errors: none raised on purpose; the caller validates every argument.
]]

local infoKey = KEYS[1]
local torrentKey = KEYS[2]

local name = ARGV[1]
local length = ARGV[2]
local pieceLength = ARGV[3]
local files = ARGV[4]
local torrent = ARGV[5]
local priority = ARGV[6]

local function setDescription()
  local fields = { name = name, length = length, piece_length = pieceLength, files = files }
  for field, value in pairs(fields) do
    if value ~= '' then redis.call('HSET', infoKey, field, value) end
  end
  if torrent ~= '' then redis.call('SET', torrentKey, torrent) end
end

local function setPriority()
  if priority ~= '' then redis.call('HSET', infoKey, 'priority', priority) end
end

local info = redis.call('HMGET', infoKey, 'active', 'registered')
if info[1] ~= '1' then
  -- A fresh start: whatever an inactive transfer left (a deactivation by an older
  -- version) is history, and archives live under other keys.
  redis.call('DEL', infoKey, torrentKey)
  local now = tonumber(redis.call('TIME')[1])
  redis.call('HSET', infoKey, 'active', '1', 'registered', now)
  setDescription()
  setPriority()
  return { 1, now }
end
local stored = redis.call('GET', torrentKey)
if torrent ~= '' and stored and stored ~= torrent then
  return { -1, tonumber(info[2]) or 0 }
end
setPriority()
if torrent ~= '' and not stored then
  setDescription()
  return { 2, tonumber(info[2]) or 0 }
end
return { 0, tonumber(info[2]) or 0 }
