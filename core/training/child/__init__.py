"""Code that runs only in child processes that import torch and yolov5: the training processes
(``runner``) and the checkpoint builder (``build``)."""
