"""The one NVML gateway and the samplers the monitor reads."""
