-- Uniform random sampling without replacement over the union of several sorted sets.
--
-- splitDraws decides how many members to take from each pool by simulating `want`
-- draws from their concatenation, so every member of the union is equally likely.
local function splitDraws(sizes, want)
  local counts, remaining, total = {}, {}, 0
  for i, size in ipairs(sizes) do
    counts[i] = 0
    remaining[i] = size
    total = total + size
  end
  if want > total then want = total end
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

-- Appends up to `count` members of `key` that are not in `exclude` to `out`, marking
-- them excluded. `slack` extra members are drawn to make up for excluded ones.
local function drawInto(out, key, count, slack, exclude)
  if count <= 0 then return end
  local taken = 0
  for _, member in ipairs(redis.call('ZRANDMEMBER', key, count + slack)) do
    if not exclude[member] then
      exclude[member] = true
      out[#out + 1] = member
      taken = taken + 1
      if taken == count then return end
    end
  end
end

-- Samples up to `want` members from the union of `keys`, skipping `exclude`. `slack`
-- bounds how many excluded members one set may hold: each draw takes that many extra.
local function sampleUnion(out, keys, want, exclude, slack)
  if want <= 0 then return end
  local sizes = {}
  for i, key in ipairs(keys) do
    sizes[i] = redis.call('ZCARD', key)
  end
  local counts = splitDraws(sizes, want)
  for i, key in ipairs(keys) do
    drawInto(out, key, counts[i], slack, exclude)
  end
end
