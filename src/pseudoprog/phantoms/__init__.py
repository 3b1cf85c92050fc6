"""Digital reference objects and synthetic patients with known truth (used by the demo and the tests)."""
