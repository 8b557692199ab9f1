-- Cells keep each set of a rack small, however large the rack grows (flat mode's one
-- location holds the whole swarm): small sets stay compact listpacks, and draws from them
-- stay cheap. A rack's members (its L and S sets) live in cells; cell 0 is <rack>:L and
-- <rack>:S, cell c > 0 is <rack>:L.<c> and <rack>:S.<c>. A rack that never held more than
-- CELL_SPLIT_AT members in a cell has cell 0 only and no directory. Past that, the
-- transfer's info hash holds field 'cells <rack>' = '<n> <max>': n cells, and max, the most
-- members any cell has held (the bound sampleCells draws under); it rides along the info
-- read every announce makes. The directory <rack>:C (hash) holds L<c> / S<c>, the size of
-- each cell's sets, kept exact by every change of membership in this file.
-- Cells grow by linear hashing: a member's cell is cellOf(address, n); when an added member
-- leaves its cell with more than CELL_SPLIT_AT members, the next cell in turn (n - 2^level)
-- splits into itself and cell n. So n grows one cell at a time, a split moves one cell's
-- members, and every member's cell follows from its address and n alone.
-- Needs: infoKey, rackKey(), scoreText().
local CELL_SPLIT_AT = 250

-- rack -> { n, max } as read once per call (splits update it).
local cellDirectory = {}
local function cellsField(rack)
  return 'cells ' .. rack
end
-- Takes the info hash's 'cells <rack>' value (or nil) as this call's knowledge of the rack.
local function knowCells(rack, value)
  local n, max = string.match(value or '', '^(%d+) (%d+)$')
  cellDirectory[rack] = { n = tonumber(n) or 1, max = tonumber(max) or 0 }
  return cellDirectory[rack]
end
local function directoryOf(rack)
  return cellDirectory[rack] or knowCells(rack, redis.call('HGET', infoKey, cellsField(rack)))
end
local function saveCells(rack, known)
  redis.call('HSET', infoKey, cellsField(rack), known.n .. ' ' .. known.max)
end
local function cellsOf(rack)
  return directoryOf(rack).n
end

-- A hash of the address bytes, below 2^31 (exact in Lua's doubles). Hosts of one subnet
-- differ in their last bytes, which a step of 131^k (odd) spreads over every cell.
-- Memoized: a call asks for the same few addresses again and again, and every call of a
-- Lua library function costs more here than the arithmetic it does.
local addressHashes = {}
local function addressHash(address)
  local h = addressHashes[address]
  if h then return h end
  local bytes = { string.byte(address, 1, -1) }
  h = 0
  for i = 1, #bytes do
    h = (h * 131 + bytes[i]) % 2147483629
  end
  addressHashes[address] = h
  return h
end

-- 2^level: the largest power of two not above n.
local function cellLevel(n)
  local low = 1
  while low * 2 <= n do low = low * 2 end
  return low
end

local function cellOf(address, n)
  if n == 1 then return 0 end
  local h = addressHash(address)
  local low = cellLevel(n)
  local c = h % low
  if c < n - low then c = h % (2 * low) end
  return c
end

local function cellKey(rack, set, c)
  if c == 0 then return rackKey(rack, set) end
  return rackKey(rack, set .. '.' .. c)
end

-- The key of set `set` (L or S) of the cell that holds `address` in `rack`, and the cell.
local function memberKey(rack, set, address)
  local c = cellOf(address, cellsOf(rack))
  return cellKey(rack, set, c), c
end

local function countInCell(rack, set, c, delta)
  if delta ~= 0 and cellsOf(rack) > 1 then
    redis.call('HINCRBY', rackKey(rack, 'C'), set .. c, delta)
  end
end

-- Moves the members of the cell next in turn that hash to the new cell n into it.
local function splitCell(rack)
  local n = cellsOf(rack)
  local low = cellLevel(n)
  local from = n - low
  local sizes = {}
  for _, set in ipairs({ 'L', 'S' }) do
    local fromKey = cellKey(rack, set, from)
    local members = redis.call('ZRANGE', fromKey, 0, -1, 'WITHSCORES')
    local adds, moved = {}, {}
    for i = 1, #members, 2 do
      if addressHash(members[i]) % (2 * low) == n then
        adds[#adds + 1] = members[i + 1]
        adds[#adds + 1] = members[i]
        moved[#moved + 1] = members[i]
      end
    end
    if #moved > 0 then
      redis.call('ZADD', cellKey(rack, set, n), unpack(adds))
      redis.call('ZREM', fromKey, unpack(moved))
    end
    sizes[set] = { #members / 2 - #moved, #moved }
  end
  local known = directoryOf(rack)
  known.n = n + 1
  known.max = math.max(known.max, sizes.L[1] + sizes.S[1], sizes.L[2] + sizes.S[2])
  saveCells(rack, known)
  redis.call('HSET', rackKey(rack, 'C'),
    'L' .. from, sizes.L[1], 'S' .. from, sizes.S[1], 'L' .. n, sizes.L[2], 'S' .. n, sizes.S[2])
end

-- Adds or re-scores `address` in set `set` of its cell. A new member raises max when its
-- cell is the fullest yet, and may split a cell.
local function cellAdd(rack, set, address, score)
  local key, c = memberKey(rack, set, address)
  if redis.call('ZADD', key, scoreText(score), address) == 0 then return end
  local size
  if cellsOf(rack) == 1 then
    size = redis.call('ZCARD', rackKey(rack, 'L')) + redis.call('ZCARD', rackKey(rack, 'S'))
  else
    local directory, known = rackKey(rack, 'C'), directoryOf(rack)
    redis.call('HINCRBY', directory, set .. c, 1)
    local counts = redis.call('HMGET', directory, 'L' .. c, 'S' .. c)
    size = (tonumber(counts[1]) or 0) + (tonumber(counts[2]) or 0)
    if size > known.max then
      known.max = size
      saveCells(rack, known)
    end
  end
  if size > CELL_SPLIT_AT then splitCell(rack) end
end

-- Removes `address` from set `set` of its cell.
local function cellRemove(rack, set, address)
  local key, c = memberKey(rack, set, address)
  countInCell(rack, set, c, -redis.call('ZREM', key, address))
end
