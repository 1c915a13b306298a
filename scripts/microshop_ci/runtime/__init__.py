"""Runtime threat detection: Falco-format rules, their evaluator and gate, and the host sensor."""
