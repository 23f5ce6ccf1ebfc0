-- open.lua: a fixed offered rate (an open loop), the answers' latencies measured from when each
-- request was due, not from when it was sent, so that a slow answer cannot hide the requests
-- queued behind it (no coordinated omission).
--
-- Each wrk thread offers BENCH_RATE / BENCH_THREADS requests per second on a fixed schedule of
-- send slots. wrk calls delay() when a connection is free for its next request; delay() hands
-- that connection the next slot and returns how long to wait for it (a slot already past is
-- sent at once).
-- With more connections than requests in flight, every slot is taken when it is due; when all
-- connections are busy, the next slots wait in the client, and that wait counts in their latency.
-- request() gives each request the oldest claimed slot and an X-Request-Id, which every server
-- measured echoes; response() finds the slot by that id and records status and latency.
--
-- Environment: BENCH_REQUESTS (a Lua file returning { {head, body}, ... }, head without its final
-- blank line), BENCH_RATE (requests/s in all), BENCH_THREADS (wrk -t), BENCH_OUT (where done()
-- writes "key value" lines and one "r status latency_us shed" line per answer).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

local reqs, interval, nextslot
local slots, head, tail = {}, 1, 0 -- slots claimed by delay() and not yet sent
local due = {}                     -- request id -> its slot, until answered
local seq = 0
-- Globals, so that done() can read them with thread:get.
sent, late, resent = 0, 0, 0
statuses, latencies, shed = {}, {}, {}

function init(args)
   reqs = dofile(os.getenv("BENCH_REQUESTS"))
   interval = 1000000 * tonumber(os.getenv("BENCH_THREADS")) / tonumber(os.getenv("BENCH_RATE"))
   seq = index * 7
end

function delay()
   local t = now_us()
   nextslot = nextslot or t
   local slot = nextslot
   nextslot = nextslot + interval
   tail = tail + 1
   slots[tail] = slot
   if slot <= t then
      return 0
   end
   return (slot - t) / 1000
end

function request()
   local slot
   if head <= tail then
      slot = slots[head]
      slots[head] = nil
      head = head + 1
   elseif nextslot == nil then
      -- wrk's check of the request before the run: never sent.
      local r = reqs[1]
      return r[1] .. "\r\n" .. r[2]
   else
      -- Sent again on a new connection after a socket error: due now.
      slot = now_us()
      resent = resent + 1
   end
   seq = seq + 1
   local id = string.format("bench-%d-%d", index, seq)
   -- wrk's timers have 1 ms resolution: a request that leaves within 1 ms of its slot is timed
   -- from when it left; one later than that waited for a free connection, and is timed from
   -- its slot.
   local t = now_us()
   due[id] = t
   if t - slot > 1000 then
      due[id] = slot
      late = late + 1
   end
   sent = sent + 1
   local r = reqs[seq % #reqs + 1]
   return r[1] .. "X-Request-Id: " .. id .. "\r\n\r\n" .. r[2]
end

function response(status, headers, body)
   local id = headers["X-Request-Id"]
   local slot = due[id]
   if slot == nil then
      return
   end
   due[id] = nil
   local n = #statuses + 1
   statuses[n] = status
   latencies[n] = now_us() - slot
   shed[n] = (status == 429 and string.find(body, '"rate-limited"', 1, true)) and 1 or 0
end

function done(summary, latency, requests)
   local f = assert(io.open(os.getenv("BENCH_OUT"), "w"))
   f:write(string.format("requests %d\nduration_us %d\n", summary.requests, summary.duration))
   for _, k in ipairs({ "connect", "read", "write", "status", "timeout" }) do
      f:write(string.format("error_%s %d\n", k, summary.errors[k]))
   end
   local total = { sent = 0, late = 0, resent = 0 }
   for _, thread in ipairs(threads) do
      for k in pairs(total) do
         total[k] = total[k] + thread:get(k)
      end
      local st, lat, sh = thread:get("statuses"), thread:get("latencies"), thread:get("shed")
      for n = 1, #st do
         f:write(string.format("r %d %d %d\n", st[n], math.floor(lat[n]), sh[n]))
      end
   end
   for k, v in pairs(total) do
      f:write(string.format("%s %d\n", k, v))
   end
   f:close()
end
