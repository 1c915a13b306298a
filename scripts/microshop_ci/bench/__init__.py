"""Load benchmark of api-service with wrk: requests/s, p50/p99 latency, peak RSS per worker."""
