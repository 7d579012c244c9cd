"""Knowledge-base drafts from answered tickets: `收录 N` by a worker, `发布 M` by a lead."""
