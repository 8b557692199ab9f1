-- Appends `count` members of sorted set `key` to `out` that are neither in `exclude` nor
-- last seen at or before `cutoff`, marking them excluded. `held` is how many members of the
-- set are excluded or stale: drawing count + held distinct members is certain to yield
-- `count` eligible ones.
local function drawInto(out, key, count, held, exclude, cutoff)
  if count <= 0 then return end
  local taken = 0
  local drawn = redis.call('ZRANDMEMBER', key, count + held, 'WITHSCORES')
  for i = 1, #drawn, 2 do
    local member = drawn[i]
    if not exclude[member] and tonumber(drawn[i + 1]) > cutoff then
      exclude[member] = true
      out[#out + 1] = member
      taken = taken + 1
      if taken == count then return end
    end
  end
end
