"""The scheduled re-scan: released images against today's advisories, under the gate policy."""
