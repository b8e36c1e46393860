"""Pictures and text of architectures (``nao show``): :mod:`pipelines.viz.drawing`."""
