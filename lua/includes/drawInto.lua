-- Appends `count` members of sorted set `key` to `out`, chosen uniformly at random among
-- its eligible members: not in `exclude` and, when `cutoff` is given, last seen after it.
-- The set holds `size` members of which `held` are excluded or dead (so it has at least
-- `count` eligible ones). Scores are fetched only when liveness is checked. The draw
-- (or the whole set) gives the candidates; a random `count` of them is kept.
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
  if 3 * wanted > size then
    -- A draw of more than a third of the set: read it whole instead. ZRANDMEMBER would copy
    -- the set into a dictionary to remove members from (its own cut-off is 3x), which
    -- costs several times a plain read of a small set.
    consider(cutoff and redis.call('ZRANGE', key, 0, -1, 'WITHSCORES') or redis.call('ZRANGE', key, 0, -1))
  else
    consider(cutoff and redis.call('ZRANDMEMBER', key, wanted, 'WITHSCORES') or redis.call('ZRANDMEMBER', key, wanted))
  end
  -- Keep a uniformly random `count` of the candidates: drop random ones when there are
  -- fewer to drop than to keep (a draw usually has one spare, the client itself), else
  -- a partial Fisher-Yates shuffle. Each random number costs more than the rest of a step.
  local excess = n - first + 1 - count
  if excess > 0 and excess < count then
    for _ = 1, excess do
      local j = math.random(first, n)
      out[j] = out[n]
      out[n] = nil
      n = n - 1
    end
  elseif excess > 0 then
    for i = first, first + count - 1 do
      local j = math.random(i, n)
      out[i], out[j] = out[j], out[i]
    end
    for i = n, first + count, -1 do out[i] = nil end
  end
end
