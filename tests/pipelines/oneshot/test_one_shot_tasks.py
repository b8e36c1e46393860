"""What each task's kit puts in a one-shot checkpoint of torch's global random state: text
draws its dropout masks from the global generators, on a GPU that GPU's, so a resumed run
needs them back; images draw nothing from them."""

from __future__ import annotations

import torch

from pipelines.oneshot.one_shot_tasks import GLOBAL_RNG, ImageOneShot, TextOneShot

GPU = torch.device("cuda", 0)


def test_a_text_checkpoint_on_a_gpu_keeps_its_generator_and_puts_it_back(fake_gpu):
    state = TextOneShot.state(GPU)
    assert set(state) == {GLOBAL_RNG, "cuda_rng"}
    assert torch.equal(state[GLOBAL_RNG], torch.get_rng_state())
    assert state["cuda_rng"].tolist() == [0, 2, 3]
    cpu_next = torch.rand(2)
    TextOneShot.load_state(state, GPU)
    assert torch.equal(torch.rand(2), cpu_next) and fake_gpu["set"] == [([0, 2, 3], 0)]
    # the text scorer draws nothing of its own; the global state is state()'s alone
    assert TextOneShot.scorer_state(torch.Generator(), GPU) == {}


def test_a_text_checkpoint_on_the_cpu_holds_the_cpus_generator_only(fake_gpu):
    state = TextOneShot.state(torch.device("cpu"))
    assert set(state) == {GLOBAL_RNG}
    TextOneShot.load_state(TextOneShot.state(GPU), torch.device("cpu"))  # a GPU run resumed here
    assert fake_gpu["set"] == []


def test_an_image_checkpoint_holds_the_scorers_generator_and_nothing_global(fake_gpu):
    generator = torch.Generator().manual_seed(3)
    assert ImageOneShot.state(GPU) == {}
    state = ImageOneShot.scorer_state(generator, GPU)
    assert set(state) == {"eval_gen"}
    expected = torch.rand(3, generator=generator)
    ImageOneShot.load_scorer_state(generator, state, GPU)
    assert torch.equal(torch.rand(3, generator=generator), expected) and fake_gpu["set"] == []
