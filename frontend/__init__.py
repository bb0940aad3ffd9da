"""Pages for annotators and researchers (templates and static assets)."""
