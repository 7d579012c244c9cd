"""What several features share: who is a worker, local time, short lists and the weekday names."""
