-- A signal from one member to another: the one step every signal takes, so it stands alone
-- (no prelude: defining its functions on every call cost more than the step itself).
-- ARGV: code, from, to, text, cap, ttl. Returns 'ok', 'not_in_room' or 'peer_not_found'.
local code, from, to, text = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local raw = redis.call('HMGET', 'tincan:room:' .. code, 'm:' .. from, 'm:' .. to)
if not raw[1] then return 'not_in_room' end
if from == to or not raw[2] then return 'peer_not_found' end
-- The member's server, without decoding the whole record ('"s":""' while it is away).
local server = string.match(raw[2], '"s":"([^"]*)"')
if server and server ~= '' then
  redis.call('PUBLISH', 'tincan:to:' .. server, 'd ' .. to .. '\n' .. text)
else
  local k = 'tincan:held:' .. code .. ':' .. to
  redis.call('RPUSH', k, text)
  redis.call('LTRIM', k, -tonumber(ARGV[5]), -1)
  redis.call('EXPIRE', k, tonumber(ARGV[6]))
end
return 'ok'
