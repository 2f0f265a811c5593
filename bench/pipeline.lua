-- wrk: 16 GET requests of the URL's path per write (HTTP/1.1 pipelining).
-- wrk counts each answer as one request; latency is from the write of
-- the batch to each answer.
local depth = 16

init = function(args)
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format("GET", wrk.path)
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end
