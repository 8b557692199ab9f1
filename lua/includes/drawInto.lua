-- Appends `count` members of sorted set `key` to `out`, chosen uniformly at random among
-- its eligible members: not in `exclude` and, when `cutoff` is given, last seen after it.
-- The set holds `size` members of which `held` are excluded or dead (so it has at least
-- `count` eligible ones). Scores are fetched only when liveness is checked.
local function drawInto(out, key, count, size, held, exclude, cutoff)
  if count <= 0 then return end
  local wanted = count + held
  local step = cutoff and 2 or 1
  local first = #out + 1
  local n = first - 1
  local function consider(drawn)
    for i = 1, #drawn, step do
      local member = drawn[i]
      if not exclude[member] and (not cutoff or tonumber(drawn[i + 1]) > cutoff) then
        n = n + 1
        out[n] = member
      end
    end
  end
  if wanted >= size then
    -- The draw would be the whole set: read it instead.
    consider(cutoff and redis.call('ZRANGE', key, 0, -1, 'WITHSCORES') or redis.call('ZRANGE', key, 0, -1))
  else
    consider(cutoff and redis.call('ZRANDMEMBER', key, wanted, 'WITHSCORES') or redis.call('ZRANDMEMBER', key, wanted))
  end
  -- At most `held` candidates too many: drop that many, each uniformly at random, which
  -- leaves a uniformly random `count` of them.
  for last = n, first + count, -1 do
    local j = math.random(first, last)
    out[j] = out[last]
    out[last] = nil
  end
end
