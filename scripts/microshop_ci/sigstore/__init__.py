"""The local Sigstore: Fulcio, Rekor on Trillian on MariaDB, and a stand-in of GitHub's OIDC token service."""
