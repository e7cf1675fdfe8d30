"""Helpers shared by the flow tests."""

import torch


def randomized(module, scale=0.5, seed=0):
    """The module with every parameter moved by ``scale`` times standard normal noise."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.add_(scale * noise.to(parameter.dtype))
    return module


def check_transform_contract(name, transform, z, x):
    """The Transform contract on base points ``z`` and data points ``x`` of shape (n, features),
    n >= 6: not the identity; inverse(forward(z)) == z and forward(inverse(x)) == x with
    log-dets that cancel; both log-dets equal autograd's; leading batch dimensions kept."""
    from course_lib.grading import check_invertible, check_log_det

    exact = z.dtype == torch.float64
    close = {"rtol": 1e-9, "atol": 1e-9} if exact else {"rtol": 1e-4, "atol": 1e-4}
    with torch.no_grad():
        assert not torch.allclose(transform(z)[0], z), f"{name} should not be the identity"
        check_invertible(name, transform, transform.inverse, z, **close)
        check_invertible(f"{name} inverse", transform.inverse, transform, x, **close)
    atol = 1e-7 if exact else 1e-3
    check_log_det(name, transform, z[:4], rtol=1e-7, atol=atol)
    check_log_det(f"{name} inverse", transform.inverse, x[:4], rtol=1e-7, atol=atol)
    batched, batched_log_det = transform(z[:6].reshape(2, 3, -1))
    assert batched.shape == (2, 3, z.shape[-1]) and batched_log_det.shape == (2, 3)
    flat, flat_log_det = transform(z[:6])
    torch.testing.assert_close(batched.reshape(6, -1), flat, **close)
    torch.testing.assert_close(batched_log_det.reshape(6), flat_log_det, **close)
