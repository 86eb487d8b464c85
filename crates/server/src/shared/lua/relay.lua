-- A signal from one member to another. ARGV: code, from, to, text, cap, ttl.
-- Returns 'ok', 'not_in_room' or 'peer_not_found'.
local code, from, to, text = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local cap, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local raw = redis.call('HMGET', room_key(code), 'm:' .. from, 'm:' .. to)
if not raw[1] then return 'not_in_room' end
if from == to or not raw[2] then return 'peer_not_found' end
send(code, to, cjson.decode(raw[2]), text, cap, ttl)
return 'ok'
