"""Kubernetes manifests and admission: rendering overlays and policies, validation, secrets."""
