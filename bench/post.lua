-- wrk script for bench/throughput.py: POST a 1 KB JSON body (the same payload as bench/common.py).
wrk.method = "POST"
wrk.body = '{"data": "' .. string.rep("x", 1000) .. '"}'
wrk.headers["Content-Type"] = "application/json"
