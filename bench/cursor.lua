-- wrk: GET /sessions/{id}/log?cursor=C (1,000 entries, the default limit)
-- with C rotating over 0, 1000, ..., 9000 of a full 10,000-entry ring.
-- Arguments (after --): ID
init = function(args)
  requests = {}
  for i = 0, 9 do
    local path = string.format("/sessions/%s/log?cursor=%d", args[1], i * 1000)
    requests[i + 1] = wrk.format("GET", path)
  end
  next_index = 0
end

request = function()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
