-- A member's connection ended without `leave`: its place is kept for the reconnect grace.
-- ARGV: code, peer, server (where the connection was), conn ('' for any on that server),
-- away_text, now, grace, reason, cap, ttl. Returns 1, or 0 when that connection no longer
-- holds the place.
local code, peer, server, conn, away_text = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, grace, reason = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local cap, ttl = tonumber(ARGV[9]), tonumber(ARGV[10])
local m = get_member(code, peer)
if not m or m.s ~= server or (conn ~= '' and m.c ~= conn) then return 0 end
m.s, m.c, m.a = '', '', now
put_member(code, peer, m)
redis.call('SREM', on_key(server), code .. ' ' .. peer)
send_others(code, members(code), peer, away_text, cap, ttl)
redis.call('ZADD', DUE, now + grace, 'p ' .. code .. ' ' .. peer .. ' ' .. ARGV[6] .. ' ' .. reason)
touch(code, ttl)
return 1
