"""The reconcile loop as a controller in a cluster: leader election on a Lease, metrics and probes, events,
detect-only mode, several apps in one process.

Pure decisions live in small modules of their own (``lease``: acquire, renew or follow; ``events``: what an
Event says and whether one may be sent now; ``apps``: the apps file; ``probes``: healthy and ready); the
I/O is at the edges (``elector`` talks to the Lease, ``server`` serves HTTP, ``runner`` runs the loops).
"""
