"""The secret store (OpenBao): the pinned `bao` binary, policies, agent configs and rotation."""
