"""Supply-chain helpers: Debian rootfs for base images, image archives, reports, SBOM checks."""
