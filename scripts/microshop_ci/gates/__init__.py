"""Security gates: scanners under one policy with dated exceptions; SARIF and summaries."""
