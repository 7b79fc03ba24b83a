import pytest

import replearn_core as rl
from replearn_core.config import TrainConfig, config_hash
from replearn_core.models import AutoencoderConfig, ClassifierConfig


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("epochs", 1.5), ("batch_size", -1), ("lr", 0), ("lr", -1e-3),
    ("dataset", "cifar"), ("train_subset", 0), ("seed", "zero"),
])
def test_train_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("kwargs, field", [
    ({"latent_dim": 0}, "latent_dim"), ({"hidden": (0, 3)}, "hidden"), ({"hidden": [10]}, "hidden"),
    ({"activation": "swish"}, "activation"), ({"latent_activation": "softmax"}, "latent_activation"),
])
def test_autoencoder_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        AutoencoderConfig(**kwargs)


def test_classifier_config_validation():
    with pytest.raises(ValueError, match="channels"):
        ClassifierConfig(channels=(16,))


def test_config_hash_is_stable_and_sensitive():
    a = config_hash(AutoencoderConfig(), TrainConfig())
    assert a == config_hash(AutoencoderConfig(), TrainConfig())
    assert a != config_hash(AutoencoderConfig(latent_dim=31), TrainConfig())
    assert a != config_hash(AutoencoderConfig(), TrainConfig(epochs=6))
    assert len(a) == 12


def test_build_model_unknown_config():
    with pytest.raises(ValueError, match="no model is registered"):
        rl.build_model(TrainConfig())
