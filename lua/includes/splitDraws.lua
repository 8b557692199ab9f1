-- Decides how many members to take from each of several pools by simulating `want` draws
-- from their concatenation, so every eligible member of the union is equally likely.
-- sizes[i] is the number of eligible members of pool i. When the union holds no more than
-- `want`, every member is taken and nothing needs drawing.
local function splitDraws(sizes, want)
  if #sizes == 2 then
    -- The common case (leechers and seeders), with less work per draw.
    local a, b = sizes[1], sizes[2]
    if want >= a + b then return { a, b } end
    local fromA = 0
    for _ = 1, want do
      if math.random(a + b) <= a then
        a, fromA = a - 1, fromA + 1
      else
        b = b - 1
      end
    end
    return { fromA, want - fromA }
  end
  local counts, remaining, total = {}, {}, 0
  for i, size in ipairs(sizes) do
    counts[i] = 0
    remaining[i] = size
    total = total + size
  end
  if want >= total then return remaining end
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
