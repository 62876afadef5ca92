import pytest
import torch
import torchvision

from nst3d import features as feats
from nst3d.errors import Nst3dError


@pytest.mark.parametrize("arch,name,expected", [
    ("vgg16", "conv4_2", "conv4_2"), ("vgg16", "conv_4", "conv2_2"), ("vgg16", "relu_13", "relu5_3"),
    ("vgg16", "pool_2", "pool2"), ("vgg19", "conv_16", "conv5_4"), ("vgg19", "relu_9", "relu4_1"),
    ("vgg19", "RELU4_2", "relu4_2"),
])
def test_layer_name_mapping(arch, name, expected):
    assert feats.canonical_layer(name, arch) == expected


@pytest.mark.parametrize("name", ["conv5_4", "conv_14", "relu6_1", "fc7", ""])
def test_unknown_layer_lists_valid_names(name):
    with pytest.raises(Nst3dError, match="valid names: conv1_1, relu1_1"):
        feats.canonical_layer(name, "vgg16")


def test_offline_weights_load_and_give_finite_features():
    bone = feats.load_backbone("vgg16-hed")
    assert bone.name == "vgg16-hed" and bone.arch == "vgg16" and len(bone.convs) == 13
    net = feats.FeatureNet(bone, ["relu1_1", "conv_4", "relu4_2"])
    assert net.names[-1] == "relu4_2" and len(net.net) == len(net.names)  # truncated after the deepest
    out = net(torch.rand(1, 3, 40, 40))
    assert set(out) == {"relu1_1", "conv2_2", "relu4_2"}
    assert out["relu4_2"].shape == (1, 512, 5, 5)
    assert all(torch.isfinite(v).all() and v.abs().sum() > 0 for v in out.values())


def test_caffe_preprocessing_is_bgr_0_255_minus_mean():
    net = feats.FeatureNet(feats.load_backbone("vgg16-hed"), ["relu1_1"])
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    x = net.preprocess(red)
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([-103.939, -116.779, 255 - 123.68]), atol=1e-3)


def test_torchvision_state_dict_file_backbone(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "vgg19.pth"
    torch.save(torchvision.models.vgg19().state_dict(), path)
    bone = feats.load_backbone("auto", str(path))
    assert bone.arch == "vgg19" and not bone.caffe_input and len(bone.convs) == 16
    net = feats.FeatureNet(bone, ["relu_16"])  # sequential naming on vgg19: conv5_4
    assert net.layers == ["relu5_4"]
    x = net.preprocess(torch.full((1, 3, 1, 1), 0.485))
    assert x[0, 0, 0, 0].abs() < 1e-5  # (0.485 - mean) / std for the red channel


def test_bad_weights_and_backbones_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(Nst3dError, match="not a PyTorch state dict"):
        feats.load_backbone("auto", str(bad))
    with pytest.raises(Nst3dError, match="no such file"):
        feats.load_backbone("auto", str(tmp_path / "missing.pth"))
    with pytest.raises(Nst3dError, match="unknown backbone"):
        feats.load_backbone("resnet")


def _vgg16_state(edit) -> dict:
    state = {k: v.clone() for k, v in torchvision.models.vgg16().features.state_dict().items()}
    state = {f"features.{k}": v for k, v in state.items()}
    edit(state)
    return state


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.pop("features.0.bias"), "features.0 has no bias"),
    (lambda s: s.update({"features.weight": torch.zeros(1)}), None),   # a stray key is ignored
    (lambda s: s.update({"features.2.weight": torch.zeros(64, 32, 3, 3)}), r"layer 2 .* \(64, 64, 3, 3\)"),
    (lambda s: s.update({"features.0.bias": torch.zeros(32)}), r"layer 1 .* and \(64,\)"),
    (lambda s: s.update({"features.1.running_mean": torch.zeros(64)}), "batch-norm VGG"),
    (lambda s: [s.pop(k) for k in list(s) if k.startswith("features.28")], "found 12 conv layers"),
])
def test_malformed_weight_files_are_one_line_errors(tmp_path, edit, message):
    path = tmp_path / "vgg16.pth"
    torch.save(_vgg16_state(edit), path)
    if message is None:
        assert feats.load_backbone("auto", str(path)).arch == "vgg16"
    else:
        with pytest.raises(Nst3dError, match=message):
            feats.load_backbone("auto", str(path))


def test_auto_skips_a_corrupt_cached_vgg19_for_the_offline_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cached = feats._torchvision_cache_file("vgg19")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    feats.load_backbone.cache_clear()
    try:
        assert feats.load_backbone("auto").name == "vgg16-hed"
        assert "are unreadable" in capsys.readouterr().err
        with pytest.raises(Nst3dError, match="unreadable .* delete that file"):
            feats.load_backbone("vgg19")
    finally:
        feats.load_backbone.cache_clear()


def test_bf16_autocast_keeps_features_and_losses_within_one_percent():
    """The CUDA path runs VGG under bf16 autocast; the same autocast on the CPU checks its numerics."""
    from conftest import as_tensor, make_content, make_style

    from nst3d import losses

    bone = feats.load_backbone("vgg16-hed")
    layers = ["relu1_1", "relu3_1", "relu4_2", "relu5_1"]
    fp32, bf16 = feats.FeatureNet(bone, layers), feats.FeatureNet(bone, layers, bf16=True)
    image, style = as_tensor(make_content(64, 64)), as_tensor(make_style(64))
    with torch.no_grad():
        exact, approx, target = fp32(image), bf16(image), fp32(style)
    for name in layers:
        assert approx[name].dtype == torch.float32
        assert losses.relative_error(approx[name], exact[name]) < 1e-4  # rms feature error < 1%
        gram_target = losses.gram(target[name])
        loss_exact = losses.relative_error(losses.gram(exact[name]), gram_target)
        loss_approx = losses.relative_error(losses.gram(approx[name]), gram_target)
        assert abs(loss_approx - loss_exact) <= 0.01 * loss_exact


def test_bf16_net_stores_the_weights_autocast_would_make():
    """A bf16 FeatureNet keeps its convolution weights in bf16 (cast once, not at every call) and gives
    exactly what the fp32 weights give under the same autocast."""
    bone = feats.load_backbone("vgg16-hed")
    fp32, bf16 = feats.FeatureNet(bone, ["relu2_1"]), feats.FeatureNet(bone, ["relu2_1"], bf16=True)
    assert bf16.net[0].weight.dtype == torch.bfloat16 and fp32.net[0].weight.dtype == torch.float32
    image = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    fp32.bf16 = True  # the same forward (autocast, channels-last input) with fp32 weights
    with torch.no_grad():
        assert torch.equal(bf16(image)["relu2_1"], fp32(image)["relu2_1"])


def test_prepacked_convolutions_give_exactly_the_features_and_gradients_of_plain_ones():
    """The CPU bf16 net's convolutions with weights reordered once for oneDNN: the same features and the
    same input gradient, bit for bit, at several sizes (the layout was chosen for one)."""
    from nst3d import prepacked

    if not prepacked.available():
        pytest.skip("this torch build lacks the oneDNN operators")
    bone = feats.load_backbone("vgg16-hed")
    plain = feats.FeatureNet(bone, ["relu1_1", "relu3_1", "relu4_2"], bf16=True)
    packed = feats.FeatureNet(bone, ["relu1_1", "relu3_1", "relu4_2"], bf16=True)
    for net in (plain, packed):
        net.to(memory_format=torch.channels_last)
    prepacked.prepack(packed.net)
    assert isinstance(packed.net[0], prepacked.PrepackedConv2d)
    generator = torch.Generator().manual_seed(0)
    for size in ((40, 56), (24, 24)):
        image = torch.rand(1, 3, *size, generator=generator)
        results = []
        for net in (plain, packed):
            pixels = image.clone().requires_grad_(True)
            found = net(pixels)
            sum((v * v).mean() for v in found.values()).backward()
            results.append((found, pixels.grad))
        (found_a, grad_a), (found_b, grad_b) = results
        assert all(torch.equal(found_a[k], found_b[k]) for k in found_a)
        assert torch.equal(grad_a, grad_b) and grad_a.abs().sum() > 0


def test_precision_sets_the_arithmetic_of_a_run_and_is_recorded():
    """--precision bf16 runs VGG under bf16 (channels-last weights on a CPU), fp32 does not; both say so
    in the record, and they score the same start within 1%."""
    from conftest import as_tensor, make_content, make_style

    import nst3d
    from nst3d.options import ImageOptions
    from nst3d.style import load_feature_net

    cpu = torch.device("cpu")
    setup = load_feature_net(ImageOptions(backbone="vgg16-hed", precision="bf16"), cpu, use_content=True)
    from nst3d import prepacked

    first = setup.net.net[0]
    assert setup.net.bf16 and (isinstance(first, prepacked.PrepackedConv2d) if prepacked.available() else
                               first.weight.is_contiguous(memory_format=torch.channels_last))
    assert not load_feature_net(ImageOptions(backbone="vgg16-hed", precision="fp32"), cpu, True).net.bf16
    content, style = as_tensor(make_content()), as_tensor(make_style())
    runs = {p: nst3d.transfer(content, [style], size=48, steps=4, scales=1, backbone="vgg16-hed", precision=p,
                              progress=False) for p in ("fp32", "bf16")}
    assert [runs[p].record["precision"] for p in runs] == ["fp32", "bf16"]
    exact, approx = (runs[p].record["history"][0] for p in runs)   # both evaluated at the content image
    for term in ("style", "content"):
        assert approx[term] == pytest.approx(exact[term], rel=0.01)
