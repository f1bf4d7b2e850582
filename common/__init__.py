"""What `agent`, `tools` and `experts` share without depending on each other: the error type users
see and the offline environment the entry points set up."""
