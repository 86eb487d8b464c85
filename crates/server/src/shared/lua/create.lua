-- A new, empty room. ARGV: code, now, room_grace, ttl. Returns 1, or 0 when the code is taken.
local code, now, room_grace, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('EXISTS', room_key(code)) == 1 then return 0 end
redis.call('HSET', room_key(code), 'seq', 0, 'empty', now)
redis.call('EXPIRE', room_key(code), ttl)
redis.call('ZADD', DUE, now + room_grace, 'r ' .. code)
return 1
