"""The admission stage: Kyverno policy suites, manifest validators, and the policies over every
overlay with the pushed images (admission-check)."""
