"""Rendering, pure: plans and reports to text and JSON. No I/O; the CLI prints what these return."""
