-- One due entry whose time has come, claimed by whichever server runs this first.
-- ARGV: entry ('r <code>' or 'p <code> <peer> <since> <reason>'), left_text (for a peer),
-- now, room_grace, cap, ttl. Returns 1 when it ended a room or a member's place.
local entry, left_text = ARGV[1], ARGV[2]
local now, room_grace, cap, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if redis.call('ZREM', DUE, entry) == 0 then return 0 end
local kind, code, peer, since = string.match(entry, '^(%a) (%S+) ?(%S*) ?(%S*)')
if kind == 'r' then
  local empty = redis.call('HGET', room_key(code), 'empty')
  if not empty or #members(code) > 0 or tonumber(empty) + room_grace > now then return 0 end
  redis.call('DEL', room_key(code), gone_key(code))
  return 1
end
local m = get_member(code, peer)
-- Back since, or away again since a later drop (a later entry ends that one).
if not m or m.s ~= '' or m.a ~= tonumber(since) then return 0 end
remove_member(code, peer, m, left_text, now, room_grace, cap, ttl)
return 1
