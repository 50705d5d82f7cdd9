import pytest
from studio_helpers import make_client
from studio_server import running_server


@pytest.fixture(scope="session")
def studio_app():
    """One studio per test worker, shared by the in-process client and the real server (models load once)."""
    from cnnlab import studio

    return studio.create_app()


@pytest.fixture(scope="session")
def client(studio_app):
    with make_client(studio_app) as c:
        yield c


@pytest.fixture(scope="session")
def server(studio_app, client):
    """The same app served by uvicorn on a free localhost port: ``(base URL, Studio)``."""
    with running_server(studio_app, lifespan="off") as url:  # the client's lifespan closes the studio
        yield url, studio_app.state.studio
