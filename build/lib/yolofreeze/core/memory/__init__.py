"""GPU memory for training with a freeze plan: instant analytic parts and a traced estimate."""
