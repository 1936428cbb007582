"""One module per channel behind the interface in ``base``; ``registry`` enumerates them."""
