"""The local supply-chain pipeline: the PR and release workflows' stages, run on this machine."""
