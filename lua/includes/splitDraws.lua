-- Decides how many members to take from each of several pools so that every eligible
-- member of their union is equally likely to be taken. sizes[i] is the number of eligible
-- members of pool i. When the union holds no more than `want`, every member is taken and
-- nothing needs drawing.
local function splitDraws(sizes, want)
  if #sizes == 2 then
    -- The common case (leechers and seeders): the first pool's share of `want`, rounded
    -- down or up at random so that its mean is exact. Every member's chance is then
    -- want / (a + b), as in a draw from the union, for one random number instead of one
    -- per draw (each costs more than the rest of a draw here).
    local a, b = sizes[1], sizes[2]
    if want >= a + b then return { a, b } end
    local share = want * a / (a + b)
    local fromA = math.floor(share)
    if math.random() < share - fromA then fromA = fromA + 1 end
    return { fromA, want - fromA }
  end
  local counts, remaining, total = {}, {}, 0
  for i, size in ipairs(sizes) do
    counts[i] = 0
    remaining[i] = size
    total = total + size
  end
  if want >= total then return remaining end
  -- Three or more pools (a representative's outside draw): simulate `want` draws from
  -- their concatenation.
  for _ = 1, want do
    local r = math.random(total)
    for i = 1, #remaining do
      if r <= remaining[i] then
        counts[i] = counts[i] + 1
        remaining[i] = remaining[i] - 1
        break
      end
      r = r - remaining[i]
    end
    total = total - 1
  end
  return counts
end
