import pytest
from studio_helpers import make_client


@pytest.fixture(scope="module")
def studio_app():
    from cnnlab import studio

    return studio.create_app()


@pytest.fixture(scope="module")
def client(studio_app):
    with make_client(studio_app) as c:
        yield c
