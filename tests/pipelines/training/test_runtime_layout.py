"""The CUDA layout choice of Runtime.inputs, checked on CPU tensors (the layout is device-free)."""

from __future__ import annotations

import torch

from pipelines.training.runtime import Runtime


def cuda_layout_runtime() -> Runtime:
    runtime = Runtime("cpu")
    runtime.cuda = True  # what a CUDA runtime decides, without a GPU: only the layout is under test
    return runtime


def test_images_take_the_channels_last_layout_on_cuda():
    x = cuda_layout_runtime().inputs(torch.zeros(2, 3, 4, 5))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert not x.is_contiguous()


def test_word_ids_of_a_language_model_pass_through_on_cuda():
    ids = torch.arange(12).reshape(3, 4)
    assert torch.equal(cuda_layout_runtime().inputs(ids), ids)
