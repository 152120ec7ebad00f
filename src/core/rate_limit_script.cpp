// The Redis side of the rate limits: one Lua script, run atomically by
// Redis, with the same arithmetic as rate_limit.cpp on Redis's own clock
// (TIME), so gateways whose clocks disagree still share one limit.

#include "gw_rate_limit.h"

namespace {

constexpr char script[] = R"lua(-- gateway rate limits (ngx_http_gateway_module)
-- KEYS: one per limit. ARGV, six per key: algorithm (0 token bucket,
-- 1 sliding window), count, period_ms, burst, cost, dry_run (0 or 1).
-- Returns {pass, then for each key: admitted, remaining, reset_ms, retry_ms}.
-- Nothing is stored unless every enforced limit admits the request.
-- (ARGV "refund" instead: see below.)
if redis.replicate_commands then pcall(redis.replicate_commands) end

local UNIT, BACKSTEP = 60000, 2000

-- ARGV "refund", then two per key: algorithm, cost. Gives back what an
-- admitted request took when another Redis refused it.
if ARGV[1] == 'refund' then
  for i = 1, #KEYS do
    local alg, cost = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
    if alg == 1 then
      local h = redis.call('HMGET', KEYS[i], 'p', 'c')
      local prev, cur = tonumber(h[1]) or 0, tonumber(h[2])
      if cur then
        -- the window may have moved on since: the rest is in the previous one
        local back = math.min(cur, cost)
        redis.call('HSET', KEYS[i], 'c', cur - back, 'p', math.max(0, prev - (cost - back)))
      end
    else
      local used = tonumber(redis.call('HGET', KEYS[i], 'v'))
      if used then
        redis.call('HSET', KEYS[i], 'v', math.max(0, used - cost * UNIT))
      end
    end
  end
  return {1}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function ceil_div(a, b)
  return math.floor((a + b - 1) / b)
end

local function bucket(key, count, period, burst, cost)
  local per_ms = count * (UNIT / period)
  local cap = burst * UNIT
  local h = redis.call('HMGET', key, 's', 'v')
  local stamp, used = tonumber(h[1]) or now, tonumber(h[2]) or 0
  if now >= stamp then
    if now - stamp >= ceil_div(used, per_ms) then
      used = 0
    else
      used = used - (now - stamp) * per_ms
    end
    stamp = now
  elseif stamp - now > BACKSTEP then
    stamp = now
  end
  local wait = 0
  if stamp > now then wait = stamp - now end
  local function reset_of(u)
    if u > 0 then return wait + ceil_div(u, per_ms) end
    return 0
  end
  local r = {admitted = 0, retry = 0,
             remaining0 = math.floor((cap - math.min(cap, used)) / UNIT),
             reset0 = reset_of(used)}
  local need = cost * UNIT
  if need <= cap and used <= cap - need then
    r.admitted = 1
    used = used + need
  elseif need > cap then
    r.retry = wait + ceil_div(cap, per_ms)
  else
    r.retry = wait + ceil_div(used + need - cap, per_ms)
  end
  r.remaining = math.floor((cap - math.min(cap, used)) / UNIT)
  r.reset = reset_of(used)
  r.fields = {'s', stamp, 'v', used}
  r.ttl = r.reset + 1000
  return r
end

local function window(key, count, period, cost)
  local len, limit = period, count
  local start = now - now % len
  local h = redis.call('HMGET', key, 's', 'p', 'c')
  local stamp, prev, cur = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
  if stamp == nil or (prev == 0 and cur == 0) then
    stamp, prev, cur = start, 0, 0
  elseif start >= stamp then
    if start - stamp == len then
      prev, cur = cur, 0
    elseif start ~= stamp then
      prev, cur = 0, 0
    end
    stamp = start
  elseif stamp - now > BACKSTEP then
    stamp = start
  end
  local wait = 0
  if stamp > now then wait = stamp - now end
  local elapsed = 0
  if now > stamp then elapsed = math.min(now - stamp, len - 1) end
  local quota = limit * len
  local function remaining_of(c)
    local used = prev * (len - elapsed) + c * len
    if used >= quota then return 0 end
    return math.floor((quota - used) / len)
  end
  local function reset_of(c)
    if c > 0 then return wait + (len - elapsed) + len end
    if prev > 0 then return wait + (len - elapsed) end
    return 0
  end
  local r = {admitted = 0, retry = 0,
             remaining0 = remaining_of(cur), reset0 = reset_of(cur)}
  if prev * (len - elapsed) + (cur + cost) * len <= quota then
    r.admitted = 1
    cur = cur + cost
  elseif cur + cost <= limit then
    r.retry = wait + (len - math.floor((limit - cur - cost) * len / prev)) - elapsed
  elseif cost <= limit then
    local spare = math.floor((limit - cost) * len / cur)
    local later = 0
    if spare < len then later = len - spare end
    r.retry = wait + (len - elapsed) + later
  end
  r.remaining = remaining_of(cur)
  r.reset = reset_of(cur)
  if r.admitted == 0 and cost > limit then r.retry = math.max(r.reset, len) end
  r.fields = {'s', stamp, 'p', prev, 'c', cur}
  r.ttl = 2 * len + wait + 1000
  return r
end

local pass, results = 1, {}
for i = 1, #KEYS do
  local b = (i - 1) * 6
  local alg, count, period = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local burst, cost, dry = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6])
  local r
  if alg == 1 then
    r = window(KEYS[i], count, period, cost)
  else
    r = bucket(KEYS[i], count, period, burst, cost)
  end
  if r.admitted == 0 and dry == 0 then pass = 0 end
  results[i] = r
end

local out = {pass}
for i = 1, #KEYS do
  local r = results[i]
  if r.admitted == 1 then
    if pass == 1 then
      redis.call('HSET', KEYS[i], unpack(r.fields))
      redis.call('PEXPIRE', KEYS[i], r.ttl)
    else
      r.remaining, r.reset = r.remaining0, r.reset0
    end
  end
  out[#out + 1] = r.admitted
  out[#out + 1] = r.remaining
  out[#out + 1] = r.reset
  out[#out + 1] = r.retry
end
return out
)lua";

} // namespace

extern "C" const char *gw_rl_redis_script(size_t *len)
{
    *len = sizeof(script) - 1;
    return script;
}
