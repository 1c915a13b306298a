"""The local Kubernetes cluster: kind on a node image built here from pinned upstream sources."""
