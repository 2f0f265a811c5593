-- wrk: POST /sessions/{id}/log with a 4096-byte text/plain body of 50
-- lines, rotating over the sessions PREFIX .. %08x (0 .. COUNT-1).
-- Arguments (after --): PREFIX COUNT
local lines_per_body = 50

local function body()
  local lines = {}
  for i = 1, lines_per_body do
    -- 46 lines of 81 bytes and 4 of 80, each plus "\n": 4096 bytes.
    local size = (i <= 46) and 81 or 80
    local text = string.format("[%2d/50] Compiling Module.Engine.%d.cpp (Development, Win64) ", i, i)
    lines[i] = (text .. string.rep("x", size)):sub(1, size)
  end
  return table.concat(lines, "\n") .. "\n"
end

init = function(args)
  local prefix, count = args[1], tonumber(args[2])
  local text = body()
  assert(#text == 4096, "body must be 4096 bytes, is " .. #text)
  requests = {}
  for i = 0, count - 1 do
    local path = string.format("/sessions/%s%08x/log", prefix, i)
    requests[i + 1] = wrk.format("POST", path, { ["Content-Type"] = "text/plain" }, text)
  end
  next_index = 0
end

request = function()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
