"""Human annotation workflow: qualification, assignment under leases, the annotation pages and their API."""
