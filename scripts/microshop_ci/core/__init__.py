"""What every stage shares: the repository root, pinned tools, the images file, verdicts."""
