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


@pytest.fixture(scope="session")
def task_runs(tmp_path_factory):
    """A runs folder with a tiny detector and a tiny segmenter trained for two steps on generated scenes."""
    from studio_helpers import tiny_task_runs

    root = tmp_path_factory.mktemp("task-runs")
    tiny_task_runs(root)
    return root


@pytest.fixture(scope="session")
def task_app(task_runs):
    """A studio offering those runs (the Detect and Segment panels' models)."""
    from cnnlab import studio

    return studio.create_app(runs_dir=str(task_runs))


@pytest.fixture(scope="session")
def task_client(task_app):
    with make_client(task_app) as c:
        yield c


@pytest.fixture(scope="session")
def task_server(task_app, task_client):
    with running_server(task_app, lifespan="off") as url:
        yield url
