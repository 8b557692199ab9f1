-- wrk script: the announce mix of a deploy. Hosts in racks announce for transfers, each
-- (host, transfer) pair cycling started -> periodic -> completed -> periodic -> stopped.
-- Arguments (after --): transfers hosts racks keepalive(0|1) leechSteps seedSteps delayMs threads
-- (delayMs: mean pause before each request of a connection, to hold a rate; 0 = none).
-- Host h sits in rack h % racks at 10.<rack // 256>.<rack % 256>.<1 + h // racks>, announcing
-- on port 10000 + h (a tracker that sees every request from 127.0.0.1 still tells hosts apart).
-- racks = 1 puts every host in one subnet, as at a site without a rack map: host h at
-- 10.0.<h // 254>.<1 + h % 254>, inside 10.0.0.0/16 up to 65,024 hosts.
-- info_hash byte i of transfer t is (t*31 + i*7 + 1) % 256; the bench's TypeScript side
-- computes the same to register transfers and whitelist them.
-- done() prints one line: BENCH {json}.

local threads = {}
local nextId = 0

function setup(thread)
  thread:set("id", nextId)
  nextId = nextId + 1
  threads[#threads + 1] = thread
end

local function percentEncode(bytes)
  return (bytes:gsub(".", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function infoHash(t)
  local b = {}
  for i = 0, 19 do b[#b + 1] = string.char((t * 31 + i * 7 + 1) % 256) end
  return percentEncode(table.concat(b))
end

local function peerId(h)
  local b = { "-BM0001-" }
  b[#b + 1] = string.char(math.floor(h / 16777216) % 256, math.floor(h / 65536) % 256, math.floor(h / 256) % 256, h % 256)
  for i = 0, 7 do b[#b + 1] = string.char((h * 13 + i * 29 + 3) % 256) end
  return percentEncode(table.concat(b))
end

local pairs_, cursor, headerSets = {}, 0, {}
local leechSteps, seedSteps, keepalive, delayMs
-- Globals, so done() can read them from each thread.
failures, responses = 0, 0

function init(args)
  local transfers, hosts, racks = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  keepalive = args[4] == "1"
  leechSteps = tonumber(args[5] or "4")
  seedSteps = tonumber(args[6] or "2")
  delayMs = tonumber(args[7] or "0")
  local id, count = wrk.thread:get("id"), tonumber(args[8] or "1")
  local hashes = {}
  for t = 0, transfers - 1 do hashes[t] = infoHash(t) end
  -- Pairs are dealt to threads round-robin; a thread walks its pairs in order, so each
  -- pair's announces are spaced out like a client's interval.
  local n = 0
  for h = 0, hosts - 1 do
    local ip
    if racks == 1 then
      ip = string.format("10.0.%d.%d", math.floor(h / 254), 1 + h % 254)
    else
      local rack = h % racks
      ip = string.format("10.%d.%d.%d", math.floor(rack / 256), rack % 256, 1 + math.floor(h / racks))
    end
    local headers = { ["X-Forwarded-For"] = ip }
    if not keepalive then headers["Connection"] = "close" end
    local prefix = nil
    for t = 0, transfers - 1 do
      if n % count == id then
        prefix = prefix or ("&peer_id=" .. peerId(h) .. "&port=" .. (10000 + h) .. "&uploaded=0&downloaded=0&compact=1&numwant=50")
        -- Start each pair at a different point of its cycle so the swarm is in steady state.
        pairs_[#pairs_ + 1] = { path = "/announce?info_hash=" .. hashes[t] .. prefix, headers = headers, step = (h + t) % (leechSteps + seedSteps + 2) }
      end
      n = n + 1
    end
  end
end

function request()
  cursor = cursor % #pairs_ + 1
  local pair = pairs_[cursor]
  local step = pair.step
  local cycle = leechSteps + seedSteps + 2
  pair.step = (step + 1) % cycle
  local query
  if step == 0 then
    query = "&left=1000000&event=started"
  elseif step <= leechSteps then
    query = "&left=" .. (1000000 - step * 1000)
  elseif step == leechSteps + 1 then
    query = "&left=0&event=completed"
  elseif step < cycle - 1 then
    query = "&left=0"
  else
    query = "&left=0&event=stopped"
  end
  return wrk.format("GET", pair.path .. query, pair.headers)
end

-- Pause (ms) before each request of a connection: holds a rate when asked to. Drawn
-- uniformly between 0 and twice the mean, so the connections do not fire in lockstep: a
-- fleet's announces arrive independently, not as bursts of every connection at once.
function delay()
  if delayMs == 0 then return 0 end
  return math.random() * 2 * delayMs
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or body:find("failure reason", 1, true) then failures = failures + 1 end
end

function done(summary, latency, requests)
  local failed, answered = 0, 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
    answered = answered + thread:get("responses")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d,"non2xx":%d,"failures":%d,"answered":%d,"p50Us":%d,"p99Us":%d,"p999Us":%d,"meanUs":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status, failed, answered,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.mean))
end
