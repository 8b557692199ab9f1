-- Redis takes every argument as text, and Lua turns a number into text with a printf each
-- time it is passed (about a microsecond for a timestamp): the scores a call passes again
-- and again (now, the cut-off) are turned into text once. Scores are whole seconds.
local scoreTexts = {}
local function scoreText(score)
  local text = scoreTexts[score]
  if not text then
    text = string.format('%d', score)
    scoreTexts[score] = text
  end
  return text
end
