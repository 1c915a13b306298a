"""Load benchmark of api-service with wrk beside its driver floor: req/s, latency, CPU, peak RSS."""
