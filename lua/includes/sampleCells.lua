-- Draws up to `want` members of the sets `sets` ({'L'} or {'L', 'S'}) of a rack kept in two
-- or more cells, each eligible member equally likely, reading one or two cells whatever the
-- rack's size. Think of the rack's members as one sequence: cell after cell (cyclic), each
-- cell's members in a fresh random order. The draw takes the `want` places that follow a
-- start chosen uniformly among all places, so every member is taken with the same chance,
-- want / members: taking j places of a cell is drawing j of its members uniformly.
-- With many cells the start is found by rejection: a cell chosen uniformly and a place below
-- the directory's max (no cell ever held more), kept when the cell holds that place; with
-- few cells, from all their sizes.
-- `own`: { cell, set } holding the client itself, which is no candidate (or nil).
-- `pruneSet(key, rack, set)`: prunes a set before the draw; true when it removed members, and
--   then the draw is planned again on the new sizes (at most 3 times).
-- `heldIn(key, set)`: how many members of `key` in `exclude` are live, the client aside.
-- Needs: cells, splitDraws, drawInto, scoreText.
local function sampleCells(out, rack, sets, want, exclude, cutoff, clean, own, pruneSet, heldIn)
  if want <= 0 then return end
  local n = cellsOf(rack)
  local directory = rackKey(rack, 'C')
  local known = {}
  local function isOwn(c, set) return own ~= nil and own.cell == c and own.set == set end
  local function fetch(cellList)
    local fields = {}
    for i = 1, #cellList do
      for j = 1, #sets do fields[#fields + 1] = sets[j] .. cellList[i] end
    end
    local got = redis.call('HMGET', directory, unpack(fields))
    local k = 0
    for i = 1, #cellList do
      local c = cellList[i]
      local sizes = { total = 0 }
      for j = 1, #sets do
        local set = sets[j]
        k = k + 1
        sizes[set] = (tonumber(got[k]) or 0) - (isOwn(c, set) and 1 or 0)
        sizes.total = sizes.total + sizes[set]
      end
      known[c] = sizes
    end
  end
  local function everyCell()
    local all = {}
    for c = 0, n - 1 do all[#all + 1] = c end
    return all
  end
  -- A uniform start among all places, from every cell's size; nil when the rack is empty.
  local function startFromAll()
    fetch(everyCell())
    local places = 0
    for c = 0, n - 1 do places = places + known[c].total end
    if places == 0 then return nil end
    local u = math.random(0, places - 1)
    for c = 0, n - 1 do
      if u < known[c].total then return c, u end
      u = u - known[c].total
    end
  end
  local function startByRejection()
    local max = directoryOf(rack).max
    if max == 0 then return nil end
    for _ = 1, 3 do
      local tries, cellList = {}, {}
      for i = 1, 2 do
        local c = math.random(0, n - 1)
        tries[i] = { c, math.random(0, max - 1) }
        -- The window often ends in the next cell: its size comes along.
        cellList[2 * i - 1] = c
        cellList[2 * i] = (c + 1) % n
      end
      fetch(cellList)
      for i = 1, 2 do
        if tries[i][2] < known[tries[i][1]].total then return tries[i][1], tries[i][2] end
      end
    end
    -- Mostly empty cells: plan from all sizes instead.
    return startFromAll()
  end

  for attempt = 1, 3 do
    known = {}
    local start, offset
    if n <= 4 then start, offset = startFromAll() else start, offset = startByRejection() end
    if not start then return end
    -- The window: `want` places from the start on, through the following cells; back at the
    -- start cell, its places before the start.
    local take, touched = {}, {}
    local remaining, c, at = want, start, offset
    for step = 0, n do
      if remaining == 0 then break end
      if not known[c] then fetch({ c, (c + 1) % n }) end
      local here = step == n and math.min(offset, known[c].total) or known[c].total - at
      local j = math.min(remaining, here)
      if j > 0 then
        if not take[c] then touched[#touched + 1] = c end
        take[c] = (take[c] or 0) + j
        remaining = remaining - j
      end
      c, at = (c + 1) % n, 0
    end
    local changed = false
    for i = 1, #touched do
      for j = 1, #sets do
        if pruneSet(cellKey(rack, sets[j], touched[i]), rack, sets[j]) then changed = true end
      end
    end
    if not changed or attempt == 3 then
      if changed then fetch(touched) end
      for t = 1, #touched do
        local cell = touched[t]
        local keys, cards, held, sizes = {}, {}, {}, {}
        for i = 1, #sets do
          local set = sets[i]
          local key = cellKey(rack, set, cell)
          keys[i] = key
          cards[i] = known[cell][set] + (isOwn(cell, set) and 1 or 0)
          held[i] = (isOwn(cell, set) and 1 or 0) + heldIn(key, set)
            + (clean[key] and 0 or redis.call('ZCOUNT', key, '-inf', scoreText(cutoff)))
          sizes[i] = math.max(0, cards[i] - held[i])
        end
        local counts = splitDraws(sizes, take[cell])
        for i = 1, #keys do
          local key = keys[i]
          drawInto(out, key, math.min(counts[i], sizes[i]), cards[i], held[i], exclude, not clean[key] and cutoff or nil)
        end
      end
      return
    end
  end
end
