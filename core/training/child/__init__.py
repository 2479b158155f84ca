"""Code that runs only inside the training processes (yolov5 imported there)."""
