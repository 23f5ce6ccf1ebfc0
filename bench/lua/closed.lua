-- closed.lua: peak throughput. Each connection sends its next request as soon as the previous
-- answer arrives (a closed loop). The requests, formatted by the bench, are rotated: thread t
-- of T sends requests t+1, t+1+T, t+1+2T, ..., so that consecutive requests use different
-- tokens and no two threads send the same registration. wrk's histogram gives the latencies.
--
-- Environment: BENCH_REQUESTS (a Lua file returning { {head, body}, ... }), BENCH_THREADS (wrk
-- -t), BENCH_OUT (where done() writes its figures as "key value" lines).

local threads = 0

function setup(thread)
   thread:set("offset", threads)
   threads = threads + 1
end

local reqs, i, stride

function init(args)
   reqs = {}
   for n, r in ipairs(dofile(os.getenv("BENCH_REQUESTS"))) do
      reqs[n] = r[1] .. "\r\n" .. r[2]
   end
   stride = tonumber(os.getenv("BENCH_THREADS"))
   i = offset - stride
end

function request()
   i = (i + stride) % #reqs
   return reqs[i + 1]
end

function done(summary, latency, requests)
   local f = assert(io.open(os.getenv("BENCH_OUT"), "w"))
   f:write(string.format("requests %d\nduration_us %d\n", summary.requests, summary.duration))
   for _, k in ipairs({ "connect", "read", "write", "status", "timeout" }) do
      f:write(string.format("error_%s %d\n", k, summary.errors[k]))
   end
   f:write(string.format("p50_us %d\np99_us %d\n", latency:percentile(50), latency:percentile(99)))
   f:close()
end
