"""Channel adapters: each translates one platform's messages to `Incoming` and `Reply` back, nothing more."""
