-- Unix seconds as UTC in ISO 8601 basic format, 20261128T053000Z: readable in key names
-- and sorting as time does. Days to civil date after H. Hinnant's days_from_civil inverse
-- (Redis's Lua has no os.date).
local function utcStamp(seconds)
  local days = math.floor(seconds / 86400)
  local secondOfDay = seconds - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local dayOfEra = z - era * 146097
  local yearOfEra = math.floor((dayOfEra - math.floor(dayOfEra / 1460) + math.floor(dayOfEra / 36524)
    - math.floor(dayOfEra / 146096)) / 365)
  local dayOfYear = dayOfEra - (365 * yearOfEra + math.floor(yearOfEra / 4) - math.floor(yearOfEra / 100))
  local shiftedMonth = math.floor((5 * dayOfYear + 2) / 153)
  local day = dayOfYear - math.floor((153 * shiftedMonth + 2) / 5) + 1
  local month = shiftedMonth < 10 and shiftedMonth + 3 or shiftedMonth - 9
  local year = yearOfEra + era * 400 + (month <= 2 and 1 or 0)
  return string.format('%04d%02d%02dT%02d%02d%02dZ', year, month, day,
    math.floor(secondOfDay / 3600), math.floor(secondOfDay % 3600 / 60), secondOfDay % 60)
end
