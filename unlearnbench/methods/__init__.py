"""Built-in unlearning methods: one plugin module per method, the file stem is the registered name."""
