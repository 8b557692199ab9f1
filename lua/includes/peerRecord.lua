-- A peer record is one field of {H}:peers, text an operator can read with HGET:
--   <rack> <state> <event> <eventTime> <left> <uploaded> <downloaded> <peerIdHex> <keyHex>
-- keyHex is '-' when the client sent no key. state: L leecher, S seeder, O origin seeder (complete at its first announce).
-- The rack comes first and never holds a space, so parsing the two fields the script
-- needs on every announce is one anchored match.
local function parseRackAndState(record)
  return string.match(record, '^(%S+) (%u)')
end
