-- wrk: a new path for every request (cache misses)
local n = 0
request = function()
    n = n + 1
    return wrk.format(nil, "/miss/" .. n .. "/" .. math.random(1e9))
end
