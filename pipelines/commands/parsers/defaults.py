"""Values the options show or default to whose own modules import torch: copied here so the
parser needs none of them, each pinned to its source by
tests/pipelines/commands/test_cli_startup.py (change both together)."""

from __future__ import annotations

from pipelines.training.network_options import NetworkOptions

# pipelines.training.data.DATASETS, pipelines.training.runtime.DEVICES,
# search_spaces.enas_micro_net.STEM_STRIDES
IMAGE_DATASETS = ("digits", "fashion-mnist", "cifar10", "cifar100", "standin")
DEVICES = ("auto", "cpu", "cuda")
STEM_STRIDES = (1, 2)
# pipelines.search.train_evaluator.ChildTraining: how nao search trains each child
CHILD_EPOCHS = 2
CHILD_BATCH_SIZE = 64
CHILD_LR = 0.1
# pipelines.oneshot.weight_sharing (NETWORK, POOL_SIZE, NAO_ROUNDS): nao ws (its controllers:
# the torch-free table pipelines.oneshot.methods)
WS_NETWORK = NetworkOptions(channels=16, layers=1, stem_stride=1, batch_size=64)
POOL_SIZE = 20
NAO_ROUNDS = 5
# pipelines.training.final (NETWORK, LR, DROP_PATH, AUXILIARY_WEIGHT): nao train
TRAIN_NETWORK = NetworkOptions(channels=16, layers=2, stem_stride=1, batch_size=64)
TRAIN_LR = 0.025
DROP_PATH = 0.2
AUXILIARY_WEIGHT = 0.4
# a text space's language model: pipelines.oneshot.lm_weight_sharing.HIDDEN,
# pipelines.training.task.BPTT, pipelines.training.lm_train.LR
LM_HIDDEN = 64
BPTT = 35
LM_LR = 20.0
