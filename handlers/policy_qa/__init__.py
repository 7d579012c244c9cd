"""Policy questions answered from the knowledge base, with the source; the catch-all, so it comes last."""
