import torch

from hw_lib import gradcheck


def test_closed_form_gradient_matches_autograd_and_finite_differences():
    result = gradcheck.check(n=32, d=4, seed=3)
    assert result.error_vs_autograd < 1e-12
    assert result.error_vs_finite_differences < 1e-7
    assert result.passed()


def test_a_gradient_with_the_sign_error_fails_the_check():
    def sign_error(w, z, t):  # the mistake students make: (x - t) where (t - x) belongs, or the reverse
        return -gradcheck.closed_form_gradient(w, z, t)

    result = gradcheck.check(gradient=sign_error)
    assert not result.passed() and result.error_vs_autograd > 1 and result.error_vs_finite_differences > 1


def test_objective_is_the_cross_entropy_of_the_sigmoid():
    z, t, w = torch.randn(8, 3, dtype=torch.float64), torch.rand(8, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    x = torch.sigmoid(z @ w)
    expected = -(t * x.log() + (1 - t) * (1 - x).log()).sum()
    assert torch.allclose(gradcheck.objective(w, z, t), expected)
