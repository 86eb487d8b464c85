-- A server puts back a member connected to it, after Redis lost its state or the server
-- was taken for dead. ARGV: code, peer, name, server, conn, back_text, cap, ttl.
-- Returns 'kept' (already so), 'taken' (another connection holds
-- the place, or the peer left), 'back' (it was away: the others are told it is back).
local code, peer, name, server, conn, back_text = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local cap, ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('EXISTS', room_key(code)) == 0 then
  redis.call('HSET', room_key(code), 'seq', 0)
end
local m = get_member(code, peer)
local status = 'kept'
if m then
  if m.s ~= '' and m.c ~= conn then return 'taken' end
  if m.s == '' then
    status = 'back'
    m.s, m.c, m.a = server, conn, 0
    put_member(code, peer, m)
    send_others(code, members(code), peer, back_text, cap, ttl)
  end
else
  if redis.call('LPOS', gone_key(code), peer) then return 'taken' end
  local order = redis.call('HINCRBY', room_key(code), 'seq', 1)
  put_member(code, peer, { n = name, s = server, c = conn, a = 0, o = order })
  redis.call('HDEL', room_key(code), 'empty')
end
redis.call('SADD', on_key(server), code .. ' ' .. peer)
touch(code, ttl)
for _, text in ipairs(redis.call('LRANGE', held_key(code, peer), 0, -1)) do
  redis.call('PUBLISH', P .. 'to:' .. server, 'd ' .. peer .. '\n' .. text)
end
redis.call('DEL', held_key(code, peer))
return status
