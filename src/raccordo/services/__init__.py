"""One module per use case. Services take a Session (the unit of work) and plain values."""
