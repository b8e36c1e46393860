from __future__ import annotations

import numpy as np
import pytest
import torch

from nao import NAO, metrics
from nao.errors import ConfigError, InvalidArchitectureError
from search_spaces import get_space

FAST = {"epochs": 400, "patience": 60, "max_symmetries": 2}
N_PROPOSE_SEEDS = 20
PROPOSE_UP_SHARE = 0.7  # of seeds whose proposal is predicted better than the seed
NARROW = {"embedding_size": 8, "hidden_size": 16, "mlp_hidden_size": 16}  # fast to train
TINY = {"epochs": 2, "patience": None, "max_symmetries": 1, "embedding_size": 8,
        "hidden_size": 8, "mlp_hidden_size": 8, "random_state": 0}


@pytest.fixture(scope="module")
def fitted(cora, cora_sample):
    archs, y = cora_sample
    return NAO(cora, random_state=0, **FAST).fit(archs, y)


def test_reconstructs_its_training_architectures(cora, cora_sample, fitted):
    archs, _ = cora_sample
    decoded = fitted.reconstruct(archs)
    acc = metrics.reconstruction_accuracy([cora.to_tokens(a) for a in archs],
                                          [cora.to_tokens(a) for a in decoded])
    assert acc >= 0.95


def test_predictor_orders_training_architectures(cora_sample, fitted):
    archs, y = cora_sample
    assert metrics.pairwise_accuracy(y, fitted.predict(archs)) > 0.75


def test_decoder_never_emits_an_invalid_architecture(cora, fitted):
    gen = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(300, fitted.hidden_size, generator=gen), dim=1)
    outs = torch.nn.functional.normalize(
        torch.randn(300, cora.length, fitted.hidden_size, generator=gen), dim=-1)
    for arch in fitted.decode(emb) + fitted.decode(emb, outs):
        cora.from_tokens(cora.to_tokens(arch))  # raises on anything invalid


def test_propose_returns_new_valid_architectures(cora, cora_sample, fitted):
    archs, y = cora_sample
    seeds = [archs[i] for i in np.argsort(-y)[:10]]
    new = fitted.propose(seeds, 15)
    assert len(new) == 15
    known = {cora.canonical(a) for a in archs}
    keys = [cora.canonical(a) for a in new]
    assert len(set(keys)) == 15 and not known & set(keys)
    for arch in new:
        cora.from_tokens(cora.to_tokens(arch))


def test_propose_moves_towards_higher_predictions(cora, cora_sample, fitted):
    """Each seed's proposal is predicted better than the seed itself far more often than a move
    in a random direction would be (half the time). The seeds are random unseen architectures:
    from the worst seeds any move looks like progress, from the best ones any move looks bad."""
    from pipelines.search.predictor_eval import sample_distinct

    known = {cora.canonical(a) for a in cora_sample[0]}
    unseen = sample_distinct(cora, 2 * N_PROPOSE_SEEDS, np.random.default_rng(7))
    seeds = [a for a in unseen if cora.canonical(a) not in known][:N_PROPOSE_SEEDS]
    gains = []
    for seed in seeds:
        (moved,) = fitted.propose([seed], 1)
        gains.append(fitted.predict([moved])[0] - fitted.predict([seed])[0])
    # measured 0.85; 0.5 with a random direction of the same length, 0.2 against the gradient
    assert np.mean(np.array(gains) > 0) >= PROPOSE_UP_SHARE


def test_propose_respects_exclude(cora, cora_sample, fitted):
    archs, y = cora_sample
    first = fitted.propose(archs[:5], 5)
    second = fitted.propose(archs[:5], 5, exclude={cora.canonical(a) for a in first})
    assert not {cora.canonical(a) for a in first} & {cora.canonical(a) for a in second}


def test_same_seed_same_model(cora, cora_sample):
    archs, y = cora_sample
    params = {"epochs": 30, "patience": None, **NARROW}
    a = NAO(cora, random_state=5, **params).fit(archs, y).predict(archs[:10])
    b = NAO(cora, random_state=5, **params).fit(archs, y).predict(archs[:10])
    c = NAO(cora, random_state=6, **params).fit(archs, y).predict(archs[:10])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rank_targets_keep_predictions_in_the_score_range(cora, cora_sample):
    archs, y = cora_sample
    model = NAO(cora, random_state=0, epochs=60, target_transform="rank", **NARROW).fit(archs, y)
    pred = model.predict(archs)
    assert y.min() <= pred.min() and pred.max() <= y.max()


def _targets_trained_on(model: NAO) -> list[np.ndarray]:
    """Record the (transformed) targets each training run of ``model`` is given."""
    seen: list[np.ndarray] = []
    train = model._train

    def recording(archs, y, *args, **kwargs):
        seen.append(np.array(y))
        return train(archs, y, *args, **kwargs)

    model._train = recording
    return seen


def test_rank_transform_trains_on_mid_rank_quantiles_and_maps_back_by_them(cora, cora_sample):
    archs = cora_sample[0][:5]
    y = np.array([0.1, 0.5, 0.5, 0.9, 0.2])
    model = NAO(cora, random_state=0, epochs=1, patience=None, max_symmetries=1,
                target_transform="rank")
    seen = _targets_trained_on(model)
    model.fit(archs, y)
    # sorted 0.1 0.2 0.5 0.5 0.9 -> positions 0..4 over 4; the tied pair shares (2 + 3) / 2
    np.testing.assert_allclose(seen[0], [0.0, 2.5 / 4, 2.5 / 4, 1.0, 1 / 4])
    # the inverse walks the sorted scores on an even grid (piecewise linear between them)
    np.testing.assert_allclose(model._unscale(np.array([0.0, 0.25, 0.5, 0.875, 1.0])),
                               [0.1, 0.2, 0.5, 0.7, 0.9])
    minmax = NAO(cora, random_state=0, epochs=1, patience=None, max_symmetries=1,
                 target_transform="minmax")
    seen = _targets_trained_on(minmax)
    minmax.fit(archs, y)
    np.testing.assert_allclose(seen[0], (y - 0.1) / 0.8)
    np.testing.assert_allclose(minmax._unscale(np.array([0.0, 0.5, 1.0])), [0.1, 0.5, 0.9])


def _weights_at_each_training_start(model: NAO) -> list[dict[str, torch.Tensor]]:
    """Record the networks' weights whenever ``model`` starts training (a fit's epochs)."""
    starts: list[dict[str, torch.Tensor]] = []
    train = model._train

    def recording(*args, **kwargs):
        starts.append({k: v.clone() for k, v in model.model_.state_dict().items()})
        return train(*args, **kwargs)

    model._train = recording
    return starts


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_warm_start_continues_the_same_networks(cora, cora_sample):
    """A warm second fit starts from the first fit's trained weights; a cold one from scratch."""
    archs, y = cora_sample
    for warm in (True, False):
        model = NAO(cora, random_state=0, epochs=20, patience=None, warm_start=warm, **NARROW)
        starts = _weights_at_each_training_start(model)
        model.fit(archs[:30], y[:30])
        net = model.model_
        fitted = {k: v.clone() for k, v in net.state_dict().items()}
        assert not _same_weights(fitted, starts[0])  # the first fit trained
        model.fit(archs, y)
        assert (model.model_ is net) == warm
        assert _same_weights(starts[1], fitted) == warm
        assert _same_weights(starts[1], starts[0]) != warm  # cold: the same fresh init again


def test_warm_patience_applies_to_continued_fits_only(cora, cora_sample):
    archs, y = cora_sample
    # tol 10 means no epoch counts as an improvement after the first: patience p stops at p + 1
    model = NAO(cora, random_state=0, epochs=12, patience=None, tol=10.0, warm_start=True,
                warm_patience=2)
    model.fit(archs[:30], y[:30])
    assert len(model.loss_curve_) == 12  # a fresh fit: patience None, every epoch
    model.fit(archs, y)
    assert len(model.loss_curve_) == 3  # continued: warm_patience 2
    cold = NAO(cora, random_state=0, epochs=12, patience=None, tol=10.0, warm_patience=2)
    cold.fit(archs[:30], y[:30]).fit(archs, y)
    assert len(cold.loss_curve_) == 12  # without warm_start every fit is fresh


def test_save_and_load_give_the_same_predictions(tmp_path, cora, cora_sample, fitted):
    archs, _ = cora_sample
    path = tmp_path / "nao.pt"
    fitted.save(path)
    loaded = NAO.load(path, cora)
    np.testing.assert_allclose(loaded.predict(archs), fitted.predict(archs))
    assert loaded.get_params() == fitted.get_params()
    assert [cora.canonical(a) for a in loaded.propose(archs[:5], 3)] == \
        [cora.canonical(a) for a in fitted.propose(archs[:5], 3)]


@pytest.mark.parametrize(
    ("scores", "match"),
    [([0.5] * 3, "3 scores"), ([0.5, float("nan")], "NaN")],
)
def test_fit_rejects_bad_scores(cora, cora_sample, scores, match):
    archs, _ = cora_sample
    with pytest.raises(ConfigError, match=match):
        NAO(cora).fit(archs[: 2 if len(scores) == 2 else 4], scores)


def test_fit_rejects_architectures_of_another_space(cora):
    from search_spaces import get_space

    proteins = get_space("nasbench-graph:proteins")
    archs = [cora.from_string("0,0,1,2:gat,gat,gin,gin"), cora.from_string("0,1,2,3:gat,gcn,gin,cheb")]
    with pytest.raises(InvalidArchitectureError):
        NAO(proteins, epochs=1).fit(archs, [0.5, 0.6])


def test_unfitted_estimator_says_so(cora):
    with pytest.raises(ConfigError, match="not fitted"):
        NAO(cora).predict([cora.from_string("0,0,1,2:gat,gat,gin,gin")])


def test_unknown_target_transform_is_rejected(cora, cora_sample):
    archs, y = cora_sample
    with pytest.raises(ConfigError, match="target_transform"):
        NAO(cora, target_transform="log").fit(archs, y)


def test_fit_and_pretrain_call_on_epoch_after_every_epoch_they_train(cora, cora_sample):
    archs, y = cora_sample
    calls: list[tuple[int, int]] = []
    model = NAO(cora, random_state=0, epochs=30, patience=None, max_symmetries=1)
    model.pretrain(archs, epochs=3, on_epoch=lambda done, epochs: calls.append((done, epochs)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    calls.clear()
    model.fit(archs, y, on_epoch=lambda done, epochs: calls.append((done, epochs)))
    assert calls == [(k, 30) for k in range(1, 31)]
    calls.clear()
    stopping = NAO(cora, random_state=0, epochs=500, patience=2, tol=10.0, max_symmetries=1)
    stopping.fit(archs, y, on_epoch=lambda done, epochs: calls.append((done, epochs)))
    assert len(calls) == len(stopping.loss_curve_) < 500  # stopped early: one call per epoch run


def test_replay_keeps_the_decoder_writing_architectures_it_was_not_fitted_on():
    space = get_space("synthetic:positions=4,choices=5,seed=0")
    archs = space.sample_distinct(400, np.random.default_rng(0))
    train, unseen, unlabelled = archs[:30], archs[30:130], archs[130:]
    y = [space.lookup(a).valid for a in train]
    small = {"epochs": 100, "patience": None, "max_symmetries": 1, "embedding_size": 16,
             "hidden_size": 32}

    def unseen_reconstruction(replay: int) -> float:
        model = NAO(space, random_state=0, replay=replay, **small).pretrain(unlabelled, 20)
        model.fit(train, y)
        return metrics.reconstruction_accuracy([space.to_tokens(a) for a in unseen],
                                               [space.to_tokens(a) for a in
                                                model.reconstruct(unseen)])

    assert unseen_reconstruction(16) > unseen_reconstruction(0) + 0.1  # 0.42 against 0.24 here


def test_replay_is_kept_by_state_dict_so_a_restored_model_fits_on_as_the_original(cora,
                                                                                  cora_sample):
    archs, y = cora_sample
    params = {"epochs": 5, "patience": None, "max_symmetries": 1, "replay": 8,
              "warm_start": True}
    original = NAO(cora, random_state=0, **params).pretrain(archs[30:], 2).fit(archs[:30], y[:30])
    restored = NAO.from_state_dict(original.state_dict(), cora)
    for model in (original, restored):
        model.fit(archs[:40], y[:40])
    assert restored.loss_curve_ == original.loss_curve_
    without = NAO.from_state_dict({k: v for k, v in original.state_dict().items()
                                   if k != "replay_tokens"}, cora)
    without.fit(archs[:40], y[:40])
    assert without.loss_curve_ != original.loss_curve_  # the replay changed the fit


def test_rank_losses_penalise_each_pair_the_predictions_order_against_the_targets(cora):
    pred = torch.tensor([0.5, 0.52, 0.1])
    target = torch.tensor([1.0, 0.0, 0.5])
    # better pairs (i above j): (0, 1) gap -0.02, (0, 2) gap 0.4, (2, 1) gap -0.42
    gaps = torch.tensor([-0.02, 0.4, -0.42])
    hinge = NAO(cora, rank_loss="hinge")._pair_loss(pred, target)
    torch.testing.assert_close(hinge, torch.relu(0.05 - gaps).mean())  # (0.07 + 0 + 0.47) / 3
    logistic = NAO(cora, rank_loss="logistic")._pair_loss(pred, target)
    torch.testing.assert_close(logistic, torch.nn.functional.softplus(-10.0 * gaps).mean())


def test_rank_loss_counts_only_pairs_whose_targets_differ(cora):
    pred = torch.tensor([0.3, 0.9, 0.1], requires_grad=True)
    est = NAO(cora)
    # a tied pair (and each item with itself) is no pair: (2, 0) and (2, 1) count, gaps -0.2
    # and -0.8
    loss = est._pair_loss(pred, torch.tensor([0.5, 0.5, 0.7]))
    torch.testing.assert_close(loss, torch.tensor((0.25 + 0.85) / 2))
    tied = est._pair_loss(pred, torch.tensor([0.5, 0.5, 0.5]))
    assert tied.item() == 0.0 and tied.requires_grad  # nothing to rank: zero, still trainable


def _joint_parts(est: NAO, archs, y) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                              torch.Tensor]:
    """The fitted networks' predictions, scaled targets, MSE and reconstruction NLL on
    ``archs`` (one sequence each, no dropout)."""
    tokens = est._tokens(archs)
    target = torch.tensor(est._scale(np.asarray(y)), dtype=torch.float32)
    with torch.no_grad():
        pred, log_probs = est.model_(tokens, est._masks(tokens))
        nll = torch.nn.functional.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]),
                                           tokens.reshape(-1))
    return pred, target, torch.nn.functional.mse_loss(pred, target), nll


FROZEN = {**TINY, "epochs": 1, "lr": 1e-30, "dropout": 0.0, "batch_size": 100}  # weights stay


def test_rank_loss_weight_adds_the_weighted_pair_loss_to_the_joint_loss(cora, cora_sample):
    archs, y = cora_sample
    first_epoch = []
    for weight in (0.0, 1.0, 2.0):  # one batch at weights that do not move
        est = NAO(cora, **FROZEN, rank_loss_weight=weight).fit(archs[:20], y[:20])
        first_epoch.append(est.loss_curve_[0])
    pred, target, mse, nll = _joint_parts(est, archs[:20], y[:20])
    pair = est._pair_loss(pred, target).item()
    assert pair > 0
    plain, once, twice = first_epoch
    assert plain == pytest.approx((0.8 * mse + 0.2 * nll).item(), rel=1e-5)
    assert once - plain == pytest.approx(pair, rel=1e-3)
    assert twice - plain == pytest.approx(2 * pair, rel=1e-3)


def test_replay_averages_the_two_reconstruction_losses(cora, cora_sample):
    """Pre-trained on one architecture, every replayed sequence is that one: the fit's
    reconstruction loss is the mean of the labelled one and that architecture's."""
    archs, y = cora_sample
    est = NAO(cora, **FROZEN, replay=4).pretrain(archs[30:31], 1).fit(archs[:20], y[:20])
    _, _, mse, nll = _joint_parts(est, archs[:20], y[:20])
    *_, replayed = _joint_parts(est, archs[30:31], [y[30]])
    assert est.loss_curve_[0] == pytest.approx((0.8 * mse + 0.2 * (nll + replayed) / 2).item(),
                                               rel=1e-5)


def test_a_loss_that_stays_exactly_level_counts_as_no_improvement(cora, cora_sample):
    archs, y = cora_sample
    level = NAO(cora, **{**FROZEN, "epochs": 5, "batch_size": 1, "tol": 0.0, "patience": 1})
    level.fit(archs[:2], y[:2])
    assert level.loss_curve_ == [level.loss_curve_[0]] * 2  # the same loss: stopped at once



def test_propose_skips_seeds_training_architectures_excluded_and_repeated_ones(cora,
                                                                             cora_sample):
    """Whatever the decoder writes, a proposal is never a seed, an architecture trained on,
    one in ``exclude``, or one already proposed."""
    archs, y = cora_sample
    est = NAO(cora, **TINY).fit(archs[:10], y[:10])
    seed, trained, new = archs[20], archs[3], archs[30:34]
    written = [seed, trained, new[0], seed, new[1], new[0], trained, new[2], new[3]]
    est.decode = lambda embeddings, outputs=None: written  # every step size writes these
    keys = [cora.canonical(a) for a in new]
    assert [cora.canonical(a) for a in est.propose([seed], 10)] == keys
    assert [cora.canonical(a) for a in est.propose([seed], 10, exclude=keys[1:3])] == \
        [keys[0], keys[3]]
    assert [cora.canonical(a) for a in est.propose([seed], 2)] == keys[:2]


def test_a_restored_model_fits_on_as_the_original(cora, cora_sample):
    archs, y = cora_sample
    params = {**TINY, "dropout": 0.4, "mlp_layers": 2, "warm_start": True}
    original = NAO(cora, **params).fit(archs[:20], y[:20])
    restored = NAO.from_state_dict(original.state_dict(), cora)
    for model in (original, restored):
        model.fit(archs[:30], y[:30])
    assert restored.loss_curve_ == original.loss_curve_


def test_pretrain_refuses_no_architectures_and_fewer_than_one_epoch(cora, cora_sample):
    archs, _ = cora_sample
    with pytest.raises(ConfigError, match=r"^pretrain needs at least 1 architecture$"):
        NAO(cora, **TINY).pretrain([])
    with pytest.raises(ConfigError, match=r"^NAO: pretrain epochs must be a whole number >= 1, "
                                          r"got 0"):
        NAO(cora, **TINY).pretrain(archs[:4], epochs=0)


def _reconstruction_loss(model, tokens: torch.Tensor, masks: torch.Tensor) -> float:
    outputs, embedding = model.encoder(tokens)
    log_probs = model.decoder(tokens, outputs, embedding, masks)
    return torch.nn.functional.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]),
                                        tokens.reshape(-1)).item()


def test_pretrain_curve_is_the_mean_reconstruction_loss_of_each_epoch(cora, cora_sample):
    """At a learning rate too small to move the weights (and no dropout), every epoch's loss is
    the pre-trained networks' mean reconstruction loss over all the architectures, whatever
    the batches; at the default rate the loss falls."""
    archs, _ = cora_sample
    frozen = NAO(cora, **{**TINY, "lr": 1e-12, "dropout": 0.0, "batch_size": 7}).pretrain(
        archs[:20], epochs=3)
    with torch.no_grad():
        loss = _reconstruction_loss(frozen.pretrained_, *frozen.pretrain_tokens_)
    assert frozen.pretrain_curve_ == pytest.approx([loss] * 3, rel=1e-6)
    learning = NAO(cora, **{**TINY, "dropout": 0.0, "batch_size": 7}).pretrain(archs[:20], 3)
    assert learning.pretrain_curve_[-1] < learning.pretrain_curve_[0] - 1e-3
    decayed = NAO(cora, **{**TINY, "dropout": 0.0, "batch_size": 7, "weight_decay": 1.0}
                  ).pretrain(archs[:20], 3)
    assert decayed.pretrain_curve_[1:] != pytest.approx(learning.pretrain_curve_[1:], rel=1e-4)


def test_reconstruct_decodes_attending_over_each_tokens_encoder_output(cora, cora_sample):
    archs, y = cora_sample
    est = NAO(cora, **{**TINY, "epochs": 30}).fit(archs[:20], y[:20])
    with torch.no_grad():
        outputs, emb = est.model_.encoder(est._tokens(archs))
    rebuilt = [cora.to_string(a) for a in est.reconstruct(archs)]
    assert rebuilt == [cora.to_string(a) for a in est.decode(emb, outputs)]
    assert rebuilt != [cora.to_string(a) for a in est.decode(emb)]  # the outputs matter here


def test_minmax_over_equal_scores_treats_their_range_as_one(cora, cora_sample):
    """Scores that are all the same have no range to divide by: min-max scaling then moves
    them by the minimum only, both ways."""
    archs = cora_sample[0][:4]
    est = NAO(cora, **TINY, target_transform="minmax")
    seen = _targets_trained_on(est)
    est.fit(archs, [0.5] * 4)
    np.testing.assert_array_equal(seen[0], np.zeros(4))
    np.testing.assert_allclose(est._scale(np.array([0.25, 0.75])), [-0.25, 0.25])
    np.testing.assert_allclose(est._unscale(np.array([0.0, 0.25, 1.0])), [0.5, 0.75, 1.5])


def test_rank_targets_of_two_architectures_are_the_ends_of_the_range(cora, cora_sample):
    archs = cora_sample[0][:2]
    est = NAO(cora, **TINY, target_transform="rank")
    seen = _targets_trained_on(est)
    est.fit(archs, [0.9, 0.3])
    np.testing.assert_array_equal(seen[0], [1.0, 0.0])


def test_fit_trains_in_single_precision_targets_included(cora, cora_sample):
    """One batch of 16 per epoch: each epoch's loss is the batch's float32 loss exactly."""
    archs, y = cora_sample
    est = NAO(cora, **{**TINY, "epochs": 3}).fit(archs[:16], y[:16])
    assert all(float(np.float32(loss)) == loss for loss in est.loss_curve_)


def test_pretrain_runs_20_epochs_unless_told(cora, cora_sample):
    est = NAO(cora, **{**TINY, "batch_size": 4}).pretrain(cora_sample[0][:4])
    assert len(est.pretrain_curve_) == 20


def test_fit_trains_on_every_symmetric_sequence_up_to_max_symmetries(cora, cora_sample):
    archs, y = cora_sample
    many = [a for a in archs if len(cora.symmetries(a)) >= 3][:2]
    sizes = [len(cora.symmetries(a)) for a in many]
    est = NAO(cora, **{**TINY, "max_symmetries": 100})
    seen_archs: list = []
    train = est._train
    est._train = lambda a, *rest, **kw: seen_archs.append(list(a)) or train(a, *rest, **kw)
    est.fit(many, [0.2, 0.4])
    expected = [s for a in many for s in cora.symmetries(a)]
    assert [cora.to_string(a) for a in seen_archs[0]] == [cora.to_string(a) for a in expected]
    assert len(expected) == sum(sizes)


def test_fit_steps_with_its_learning_rate_and_weight_decay(cora, cora_sample):
    archs, y = cora_sample
    still = {**TINY, "epochs": 3, "dropout": 0.0, "batch_size": 4}
    frozen = NAO(cora, **still, lr=1e-12).fit(archs[:12], y[:12])
    # weights that do not move: each epoch's loss is the joint loss over all architectures
    tokens = frozen._tokens(archs[:12])
    target = torch.tensor(frozen._scale(y[:12]), dtype=torch.float32)
    with torch.no_grad():
        pred, log_probs = frozen.model_(tokens, frozen._masks(tokens))
        nll = torch.nn.functional.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]),
                                           tokens.reshape(-1))
        joint = 0.8 * torch.nn.functional.mse_loss(pred, target) + 0.2 * nll
    assert frozen.loss_curve_ == pytest.approx([joint.item()] * 3, rel=1e-5)
    moving = NAO(cora, **still).fit(archs[:12], y[:12])
    assert moving.loss_curve_[-1] < moving.loss_curve_[0] - 1e-3
    decayed = NAO(cora, **still, weight_decay=1.0).fit(archs[:12], y[:12])
    assert decayed.loss_curve_[1:] != pytest.approx(moving.loss_curve_[1:], rel=1e-4)


def test_without_replay_a_fit_after_pretraining_uses_only_the_labelled_architectures(
        cora, cora_sample):
    import copy

    archs, y = cora_sample
    pretrained = NAO(cora, **TINY).pretrain(archs[20:40], 1)
    fresh = NAO(cora, **TINY)
    fresh.pretrained_ = copy.deepcopy(pretrained.pretrained_)  # the networks, not the archs
    for est in (pretrained, fresh):
        est.fit(archs[:12], y[:12])
    assert np.isfinite(pretrained.loss_curve_).all()
    assert pretrained.loss_curve_ == fresh.loss_curve_


def test_fit_takes_any_real_scores_pass_fail_flags_included(cora, cora_sample):
    archs = cora_sample[0][:4]
    est = NAO(cora, **TINY, target_transform="minmax").fit(archs, [True, False, True, True])
    assert est.y_sorted_.tolist() == [0.0, 1.0, 1.0, 1.0] and est.y_sorted_.dtype == np.float64
    assert np.all((est.predict(archs) >= 0) & (est.predict(archs) <= 1))


def test_fit_needs_two_architectures(cora, cora_sample):
    with pytest.raises(ConfigError, match=r"^fit needs at least 2 evaluated architectures$"):
        NAO(cora, **TINY).fit(cora_sample[0][:1], [0.5])


def test_a_fresh_fit_starts_from_a_copy_of_the_pretrained_networks(cora, cora_sample):
    archs, y = cora_sample
    est = NAO(cora, **TINY).pretrain(archs[20:30], 1)
    pretrained = {k: v.clone() for k, v in est.pretrained_.state_dict().items()}
    starts = _weights_at_each_training_start(est)
    est.fit(archs[:12], y[:12])
    assert _same_weights(starts[0], pretrained)
    assert _same_weights(est.pretrained_.state_dict(), pretrained)  # the copy trained, not it
    assert not _same_weights(est.model_.state_dict(), pretrained)


def test_capped_augmentation_keeps_distinct_symmetric_sequences_in_their_order(cora,
                                                                              cora_sample):
    archs, y = cora_sample
    many = [a for a in archs if len(cora.symmetries(a)) >= 5][:20]
    assert len(many) >= 4
    est = NAO(cora, **{**TINY, "max_symmetries": 4})
    seen_archs: list = []
    train = est._train
    est._train = lambda a, *rest, **kw: seen_archs.append(list(a)) or train(a, *rest, **kw)
    est.fit(many, np.linspace(0, 1, len(many)))
    for i, arch in enumerate(many):
        group = [cora.to_string(a) for a in seen_archs[0][4 * i:4 * i + 4]]
        variants = [cora.to_string(a) for a in cora.symmetries(arch)]
        assert group[0] == variants[0] and len(set(group)) == 4
        assert [v for v in variants[1:] if v in group[1:]] == group[1:]  # in the space's order
