-- A member leaves. ARGV: code, peer, conn (the connection that asks; '' for any), left_text,
-- now, room_grace, cap, ttl. Returns 1, or 0 when it was not there (or another connection
-- holds its place now).
local code, peer, conn, left_text = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, room_grace, cap, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local m = get_member(code, peer)
if not m then return 0 end
if conn ~= '' and m.c ~= conn then return 0 end
remove_member(code, peer, m, left_text, now, room_grace, cap, ttl)
return 1
