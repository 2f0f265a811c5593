-- wrk: POST /sessions/{id}/log with a 4096-byte text/plain body of 50
-- lines, rotating over the sessions PREFIX .. %08x (0 .. COUNT-1).
-- Arguments (after --): PREFIX COUNT [GZIP_FILE]
-- With GZIP_FILE (the same body gzipped once, by bench/run.sh), that file
-- is sent instead, with Content-Encoding: gzip.
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
  local headers = { ["Content-Type"] = "text/plain" }
  if args[3] then
    local file = assert(io.open(args[3], "rb"))
    local gzipped = file:read("*a")
    file:close()
    -- ISIZE, the last 4 bytes: the file holds a body of the same size.
    local a, b, c, d = gzipped:byte(-4, -1)
    assert(a + b * 256 + c * 65536 + d * 16777216 == #text, "the gzip file is not of this body")
    text = gzipped
    headers["Content-Encoding"] = "gzip"
  end
  requests = {}
  for i = 0, count - 1 do
    local path = string.format("/sessions/%s%08x/log", prefix, i)
    requests[i + 1] = wrk.format("POST", path, headers, text)
  end
  next_index = 0
end

request = function()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
