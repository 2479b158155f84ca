"""The torch-only tracer; imported only inside the estimate child process."""
