-- Appends `count` members of sorted set `key` to `out` that are not in `exclude` (and,
-- when `cutoff` is given, were last seen after it), marking them excluded. `held` is how
-- many members of the set are excluded or dead: drawing count + held distinct members is
-- certain to yield `count` eligible ones. Scores are fetched only when liveness is checked.
local function drawInto(out, key, count, held, exclude, cutoff)
  if count <= 0 then return end
  local taken = 0
  local step = cutoff and 2 or 1
  local drawn = cutoff and redis.call('ZRANDMEMBER', key, count + held, 'WITHSCORES')
    or redis.call('ZRANDMEMBER', key, count + held)
  for i = 1, #drawn, step do
    local member = drawn[i]
    if not exclude[member] and (not cutoff or tonumber(drawn[i + 1]) > cutoff) then
      exclude[member] = true
      out[#out + 1] = member
      taken = taken + 1
      if taken == count then return end
    end
  end
end
