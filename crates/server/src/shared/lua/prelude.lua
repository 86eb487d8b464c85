-- Shared by every script of the shared room store (crates/server/src/shared): one room's
-- state is one hash, `tincan:room:<code>`, with a field `m:<peer id>` per member (JSON:
-- n name, s server it is connected to ('' while away), c its connection ('' while away),
-- a when it went away (ms, 0 while here), o its join order), `seq` (the next join order)
-- and `empty` (ms since the room has been empty). Scripts run whole, one at a time, so a
-- room never changes halfway through a step, and everything a step publishes is in order.
-- Every message text is made by the Rust caller; scripts only route them.

local P = 'tincan:'

local function room_key(code) return P .. 'room:' .. code end
local function gone_key(code) return P .. 'gone:' .. code end
local function held_key(code, peer) return P .. 'held:' .. code .. ':' .. peer end
local function on_key(server) return P .. 'on:' .. server end
local DUE = P .. 'due'

-- The room's members, in join order, each with its id in `id`.
local function members(code)
  local flat = redis.call('HGETALL', room_key(code))
  local list = {}
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 2) == 'm:' then
      local m = cjson.decode(flat[i + 1])
      m.id = string.sub(flat[i], 3)
      table.insert(list, m)
    end
  end
  table.sort(list, function(x, y) return x.o < y.o end)
  return list
end

local function get_member(code, peer)
  local raw = redis.call('HGET', room_key(code), 'm:' .. peer)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function put_member(code, peer, m)
  local stored = { n = m.n, s = m.s, c = m.c, a = m.a, o = m.o }
  redis.call('HSET', room_key(code), 'm:' .. peer, cjson.encode(stored))
end

-- To a connected member: published to its server's channel. To one that is away: held
-- (the newest `cap`) until it resumes.
local function send(code, peer, m, text, cap, ttl)
  if m.s ~= '' then
    redis.call('PUBLISH', P .. 'to:' .. m.s, 'd ' .. peer .. '\n' .. text)
  else
    local k = held_key(code, peer)
    redis.call('RPUSH', k, text)
    redis.call('LTRIM', k, -cap, -1)
    redis.call('EXPIRE', k, ttl)
  end
end

local function send_others(code, list, except, text, cap, ttl)
  for _, m in ipairs(list) do
    if m.id ~= except then send(code, m.id, m, text, cap, ttl) end
  end
end

local function touch(code, ttl)
  redis.call('EXPIRE', room_key(code), ttl)
  redis.call('EXPIRE', gone_key(code), ttl)
end

-- Takes `peer` out of its room and tells the others `left_text`; an emptied room ends
-- `room_grace` ms after `now`, unless someone comes.
local function remove_member(code, peer, m, left_text, now, room_grace, cap, ttl)
  redis.call('HDEL', room_key(code), 'm:' .. peer)
  if m.s ~= '' then redis.call('SREM', on_key(m.s), code .. ' ' .. peer) end
  redis.call('DEL', held_key(code, peer))
  redis.call('RPUSH', gone_key(code), peer)
  redis.call('LTRIM', gone_key(code), -64, -1)
  local rest = members(code)
  send_others(code, rest, peer, left_text, cap, ttl)
  if #rest == 0 then
    redis.call('HSET', room_key(code), 'empty', now)
    redis.call('ZADD', DUE, now + room_grace, 'r ' .. code)
  end
  touch(code, ttl)
end
