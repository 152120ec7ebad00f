-- wrk script of the soak: sends the requests of the file given after "--"
-- (tab-separated: expected status, URI, headers "Name: value") in turn on
-- every connection.

local requests = {}
local next_request = 0

function init(args)
   for line in io.lines(args[1]) do
      local fields = {}
      for field in line:gmatch("[^\t]+") do
         fields[#fields + 1] = field
      end
      local headers = {}
      for i = 3, #fields do
         local name, value = fields[i]:match("^([^:]+):%s*(.*)$")
         headers[name] = value
      end
      requests[#requests + 1] = wrk.format("GET", fields[2], headers)
   end
end

function request()
   next_request = next_request % #requests + 1
   return requests[next_request]
end
