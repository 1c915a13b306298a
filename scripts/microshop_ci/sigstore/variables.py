"""The three variables that point cosign at a private Sigstore, named once.

`sign.signer` reads them (the signing stage runs on the standard library, so this module imports
nothing) and `sigstore.jobs` writes them for a job that signs against the local stack.
"""

from __future__ import annotations

FULCIO_URL = "MICROSHOP_SIGSTORE_FULCIO_URL"
REKOR_URL = "MICROSHOP_SIGSTORE_REKOR_URL"
TRUSTED_ROOT = "MICROSHOP_SIGSTORE_TRUSTED_ROOT"
PRIVATE_SIGSTORE = (FULCIO_URL, REKOR_URL, TRUSTED_ROOT)
