"""Reading checkpoint files safely: containers, the restricted unpickler, the model-YAML gate, interpretation."""
