import math

import numpy as np
import pytest
import torch

from classifier.data.transforms import (
    AugmentJob,
    AugmentParams,
    AugmentSpec,
    affine_theta,
    augment_file,
    sample_params,
    warp,
    warp_crops,
)
from classifier.files import encode_png, read_png, write_atomic

IDENTITY = torch.tensor([[0.0, 1.0, 0.0, 0.0]])


def disc(size: int = 64, radius: float = 0.7) -> torch.Tensor:
    """A bright disc of `radius` half-sides around the centre: the 'chest'."""
    centres = (torch.arange(size) + 0.5) / size * 2 - 1
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    return ((x**2 + y**2) <= radius**2).to(torch.float32)[None, None]


def test_identity_parameters_change_nothing():
    images = torch.randint(0, 256, (2, 1, 16, 12), dtype=torch.uint8)
    assert torch.equal(warp(images, IDENTITY.repeat(2, 1)), images)


def test_positive_angle_turns_counter_clockwise():
    image = torch.zeros(1, 1, 9, 9)
    image[0, 0, 1, 4] = 1  # top centre
    out = warp(image, torch.tensor([[90.0, 1.0, 0.0, 0.0]]))
    assert torch.nonzero(out[0, 0] > 0.5).tolist() == [[4, 1]]  # left centre


def test_samples_stay_within_the_spec():
    params = sample_params(AugmentSpec(), 5000, torch.Generator().manual_seed(0))
    angle, scale, shift = params[:, 0], params[:, 1], params[:, 2:]
    assert angle.abs().max() <= 15 and angle.abs().max() > 14.9
    assert scale.min() >= 0.9 and scale.max() <= 1
    assert (shift.abs() <= (1 - scale)[:, None] + 1e-12).all()


def test_the_chest_stays_in_frame():
    # Every point within 0.75 half-sides of the centre maps inside the output frame.
    params = sample_params(AugmentSpec(), 2000, torch.Generator().manual_seed(1))
    params[:4] = torch.tensor(
        [[15.0, 0.9, 0.1, 0.1], [-15.0, 0.9, -0.1, 0.1], [15.0, 0.9, 0.1, -0.1], [-15, 0.9, 0, 0]]
    )
    theta = affine_theta(params, 64, 64)
    angles = torch.linspace(0, 2 * math.pi, 720, dtype=torch.float64)
    points = 0.75 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    linear, shift = theta[:, :, :2], theta[:, :, 2]
    out = torch.linalg.solve(linear[:, None], (points[None] - shift[:, None])[..., None])
    assert out.abs().max() < 1


def test_disc_keeps_its_mass():
    image = disc()
    params = torch.tensor([[15.0, 0.9, 0.1, -0.1], [-12.0, 0.95, -0.05, 0.0]])
    out = warp(image.repeat(2, 1, 1, 1), params)
    for row, single in zip(params, out, strict=True):
        # Zooming by 1/scale enlarges the disc's area by 1/scale^2; nothing is cut.
        expected = image.sum() / row[1] ** 2
        assert abs(float(single.sum() / expected) - 1) < 0.03


def test_seeded_draws_repeat():
    spec = AugmentSpec()
    first = sample_params(spec, 4, torch.Generator().manual_seed(3))
    again = sample_params(spec, 4, torch.Generator().manual_seed(3))
    other = sample_params(spec, 4, torch.Generator().manual_seed(4))
    assert first.shape == (4, 4)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_uint8_stays_uint8():
    image = torch.randint(0, 256, (1, 1, 24, 24), dtype=torch.uint8)
    params = sample_params(AugmentSpec(), 1, torch.Generator().manual_seed(0))
    assert warp(image, params).dtype == torch.uint8


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_warp_crops_are_windows_of_the_full_warp(dtype):
    gen = torch.Generator().manual_seed(4)
    images = (torch.rand(6, 1, 40, 40, generator=gen) * 255).to(dtype)
    params = sample_params(AugmentSpec(), 6, gen)
    top, left = torch.tensor([0, 8, 3, 8, 5, 0]), torch.tensor([8, 0, 3, 8, 1, 0])
    crops = warp_crops(images, params, top, left, 32)
    full = warp(images, params)
    corners = enumerate(zip(top.tolist(), left.tolist(), strict=True))
    windows = [full[i, :, y : y + 32, x : x + 32] for i, (y, x) in corners]
    assert crops.dtype == dtype and crops.shape == (6, 1, 32, 32)
    # Bit-identical here; the margin covers a BLAS that orders the 3-term sums differently.
    margin = 1e-6 if dtype.is_floating_point else 1
    torch.testing.assert_close(crops.float(), torch.stack(windows).float(), atol=margin, rtol=0)


def test_params_json_round_trip():
    params = AugmentParams(-3.25, 0.93, 0.01, -0.02)
    assert AugmentParams.from_json(params.to_json()) == params
    assert AugmentParams.from_row(params.row()) == params


@pytest.mark.parametrize(("mode", "dtype"), [("L", np.uint8), ("I;16", np.uint16)])
def test_augment_file(tmp_path, mode, dtype):
    pixels = (disc(32)[0, 0].numpy() * np.iinfo(dtype).max).astype(dtype)
    write_atomic(tmp_path / "src.png", encode_png(pixels))
    job = AugmentJob(
        tmp_path / "src.png", tmp_path / "a/out.png", AugmentParams(10, 0.95, 0, 0), 32, mode
    )
    augment_file(job)
    out = read_png(job.target)
    assert out.dtype == dtype and out.shape == (32, 32)
    expected = warp(torch.from_numpy(pixels.astype(np.float32))[None, None], job.params.row()[None])
    np.testing.assert_array_equal(out, np.floor(expected[0, 0].numpy() + 0.5).astype(dtype))
    stamp = job.target.stat().st_mtime_ns
    augment_file(job)
    assert job.target.stat().st_mtime_ns == stamp
