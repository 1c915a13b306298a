"""client-service tests: unit tests over MockTransport, integration against a real api-service."""
