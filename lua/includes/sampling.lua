-- Uniform random sampling without replacement over the union of disjoint sorted sets,
-- skipping excluded members.
--
-- splitDraws decides how many members to take from each pool by simulating `want`
-- draws from their concatenation, so every eligible member of the union is equally likely.
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

-- How many of `excludeList` are members of `key`.
local function countMembers(key, excludeList)
  if #excludeList == 0 then return 0 end
  local n = 0
  for _, score in ipairs(redis.call('ZMSCORE', key, unpack(excludeList))) do
    if score then n = n + 1 end
  end
  return n
end

-- Appends `count` members of `key` that are not in `exclude` to `out`, marking them
-- excluded. `held` is how many excluded members the set holds: drawing count + held
-- distinct members is certain to yield `count` eligible ones.
local function drawInto(out, key, count, held, exclude)
  if count <= 0 then return end
  local taken = 0
  for _, member in ipairs(redis.call('ZRANDMEMBER', key, count + held)) do
    if not exclude[member] then
      exclude[member] = true
      out[#out + 1] = member
      taken = taken + 1
      if taken == count then return end
    end
  end
end

-- Samples up to `want` members from the union of `keys` (pairwise disjoint), skipping
-- the members of the set `exclude` and adding the chosen ones to it. A pool's share is
-- sized on its eligible members only, so excluded members never cost the union a slot.
local function sampleUnion(out, keys, want, exclude)
  if want <= 0 then return end
  local excludeList = {}
  for member in pairs(exclude) do excludeList[#excludeList + 1] = member end
  local sizes, held = {}, {}
  for i, key in ipairs(keys) do
    held[i] = countMembers(key, excludeList)
    sizes[i] = redis.call('ZCARD', key) - held[i]
  end
  local counts = splitDraws(sizes, want)
  for i, key in ipairs(keys) do
    drawInto(out, key, counts[i], held[i], exclude)
  end
end
