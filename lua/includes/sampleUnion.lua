-- Samples up to `want` members from the union of the sorted sets `keys` (pairwise
-- disjoint, scored by last seen), skipping members of the set `exclude` and members last
-- seen at or before `cutoff`, and adds the chosen ones to `exclude`. Each pool's share is
-- sized on its eligible members only, so neither excluded nor stale members (the prune is
-- bounded per call) cost the union a slot or reach a client.
-- Needs: splitDraws, drawInto.
local function sampleUnion(out, keys, want, exclude, cutoff)
  if want <= 0 then return end
  local excludeList = {}
  for member in pairs(exclude) do excludeList[#excludeList + 1] = member end
  local sizes, held = {}, {}
  for i, key in ipairs(keys) do
    held[i] = redis.call('ZCOUNT', key, '-inf', cutoff)
    if #excludeList > 0 then
      for _, score in ipairs(redis.call('ZMSCORE', key, unpack(excludeList))) do
        if score and tonumber(score) > cutoff then held[i] = held[i] + 1 end
      end
    end
    sizes[i] = redis.call('ZCARD', key) - held[i]
  end
  local counts = splitDraws(sizes, want)
  for i, key in ipairs(keys) do
    drawInto(out, key, counts[i], held[i], exclude, cutoff)
  end
end
