"""Security building blocks that do not depend on the chat UI, so any front end can use them.

- `sessions`: server-side login sessions and account state (checked on every request and socket event);
- `throttle`: login back-off per account and per client address, and the bounded password-hashing pool;
- `audit`: the append-only, hash-chained audit trail;
- `checkpoints`: encryption at rest of the agent's LangGraph checkpoints;
- `erasure`: deleting a conversation everywhere it is stored, and the retention purge;
- `origins`: the public URL and the only origins a browser may call the server from;
- `secrets`: private key files in RADASSIST_HOME.
"""
