"""The torch-only tracer. The estimator imports it only when a traced estimate runs: in the TUI's
estimate child process, or in the process of the ``estimate`` command; never on the way to a screen."""
