"""Where the stations are (`社工站在哪`, a shared location) and the resident's own city and 镇街."""
