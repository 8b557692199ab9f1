-- A peer record is one field of {H}:peers, text an operator can read with HGET:
--   <rack> <state><event> <eventTime> <left> <uploaded> <downloaded> <peerId>
-- state: L leecher, S seeder, O origin seeder (complete at its first announce).
-- event: the last one sent, s started, c completed, p paused, - none yet; eventTime its
-- time (s). peerId is the 20 raw bytes, last, so that bytes such as spaces in it never
-- shift a field. The rack comes first and never holds a space, so parsing the two fields
-- the script needs on every announce is one anchored match.
local function parseRackAndState(record)
  return string.match(record, '^(%S+) (%u)')
end
