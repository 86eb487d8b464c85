-- A peer joins, or takes its place back. ARGV: code, returning (the peer id its token
-- proved, or ''), fresh (the id for a new peer), name, server, conn, capacity, cap (held
-- messages), ttl, back_text (peer_joined for the returning peer), new_text (peer_joined for
-- the fresh one).
-- Returns {status, peer id, n, id1, name1, ..., idn, namen}; status is
-- 'resumed', 'restored' (its room was forgotten, or it was; it keeps its id), 'joined', or
-- an error code: 'room_not_found', 'room_full'.
local code, returning, fresh, name = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local server, conn = ARGV[5], ARGV[6]
local capacity, cap, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local back_text, new_text = ARGV[10], ARGV[11]

local function reply(status, peer, list)
  local out = { status, peer, 0 }
  for _, m in ipairs(list) do
    if m.id ~= peer then
      table.insert(out, m.id)
      table.insert(out, m.n)
      out[3] = out[3] + 1
    end
  end
  out[3] = tostring(out[3])
  return out
end

local function admit(peer, status, text, list)
  send_others(code, list, peer, text, cap, ttl)
  local order = redis.call('HINCRBY', room_key(code), 'seq', 1)
  put_member(code, peer, { n = name, s = server, c = conn, a = 0, o = order })
  redis.call('HDEL', room_key(code), 'empty')
  redis.call('SADD', on_key(server), code .. ' ' .. peer)
  touch(code, ttl)
  return reply(status, peer, list)
end

if redis.call('EXISTS', room_key(code)) == 0 then
  -- Only a former member can bring a room back: its token proved it.
  if returning == '' then return { 'room_not_found' } end
  redis.call('HSET', room_key(code), 'seq', 0)
end
local list = members(code)

if returning ~= '' then
  local m = get_member(code, returning)
  if m then
    local was_away = m.s == ''
    if m.s ~= '' and m.c ~= conn then
      -- Still connected somewhere (a server that died, or a connection not yet dropped):
      -- that connection no longer speaks for the peer.
      redis.call('PUBLISH', P .. 'to:' .. m.s, 'x ' .. returning .. ' ' .. m.c)
      redis.call('SREM', on_key(m.s), code .. ' ' .. returning)
    end
    m.s, m.c, m.a, m.n = server, conn, 0, name
    put_member(code, returning, m)
    redis.call('SADD', on_key(server), code .. ' ' .. returning)
    -- What waited for it goes out first, through its server's channel like what follows.
    for _, text in ipairs(redis.call('LRANGE', held_key(code, returning), 0, -1)) do
      redis.call('PUBLISH', P .. 'to:' .. server, 'd ' .. returning .. '\n' .. text)
    end
    redis.call('DEL', held_key(code, returning))
    if was_away then send_others(code, list, returning, back_text, cap, ttl) end
    touch(code, ttl)
    return reply('resumed', returning, list)
  end
  local departed = redis.call('LPOS', gone_key(code), returning)
  if not departed and #list < capacity then
    return admit(returning, 'restored', back_text, list)
  end
  -- Its place is gone: it joins afresh, as a new peer.
end

if #list >= capacity then return { 'room_full' } end
return admit(fresh, 'joined', new_text, list)
