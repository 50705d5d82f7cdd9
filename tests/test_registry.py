import pytest

from cnnlab._registry import Registry


def test_register_get_names_info():
    r = Registry("thing")

    @r.register("double", note="x2")
    def double(x):
        return 2 * x

    assert r.names() == ["double"]
    assert r.lookup("double")(4) == 8
    assert r.get("double", x=5) == 10
    assert r.info("double") == {"note": "x2"}
    assert "double" in r and "triple" not in r


def test_duplicate_name_raises():
    r = Registry("thing")
    r.register("a")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        r.register("a")(lambda: 2)


def test_unknown_name_suggests_close_matches():
    r = Registry("model")
    r.register("resnet18")(lambda: 1)
    with pytest.raises(ValueError, match="unknown model 'resnet19'; did you mean resnet18"):
        r.lookup("resnet19")
    with pytest.raises(TypeError):
        r.lookup(3)
