"""Decisions, pure: given desired and live objects and the rules, say what to do. No I/O."""
