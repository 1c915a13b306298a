"""The runtime sensor: bpftrace on tracepoints, its lines as JSON events, alerts from the rules."""
