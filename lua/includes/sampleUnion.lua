-- Samples up to `want` members from the union of the sorted sets `keys` (pairwise
-- disjoint, scored by last seen), uniformly, skipping members of the set `exclude` and
-- members last seen at or before `cutoff`. Each pool's share is sized on its eligible
-- members only, so neither excluded nor dead members cost the union a slot or reach a
-- client.
-- clean[key]: the set is known to hold no dead member (its prune stopped short).
-- knownHeld: key -> how many excluded members the set holds, when the caller knows;
-- nil to count them (ZMSCORE).
-- Needs: splitDraws, drawInto, scoreText.
local function sampleUnion(out, keys, want, exclude, cutoff, clean, knownHeld)
  if want <= 0 then return end
  local excludeList
  local cards, sizes, held = {}, {}, {}
  for i = 1, #keys do
    local key = keys[i]
    held[i] = clean[key] and 0 or redis.call('ZCOUNT', key, '-inf', scoreText(cutoff))
    if knownHeld then
      held[i] = held[i] + (knownHeld[key] or 0)
    else
      if not excludeList then
        excludeList = {}
        for member in pairs(exclude) do excludeList[#excludeList + 1] = member end
      end
      for _, score in ipairs(redis.call('ZMSCORE', key, unpack(excludeList))) do
        if score and tonumber(score) > cutoff then held[i] = held[i] + 1 end
      end
    end
    cards[i] = redis.call('ZCARD', key)
    sizes[i] = cards[i] - held[i]
  end
  local counts = splitDraws(sizes, want)
  for i = 1, #keys do
    local key = keys[i]
    drawInto(out, key, counts[i], cards[i], held[i], exclude, not clean[key] and cutoff or nil)
  end
end
