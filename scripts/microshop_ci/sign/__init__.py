"""The sign stage: SBOM, cosign signature and SBOM attestation, then verification."""
