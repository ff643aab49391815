import pytest


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true", help="run the long fault runs too (make soak)")


def pytest_collection_modifyitems(config, items):
    """Tests marked `soak` (whole-stack fault runs) run only with --soak: `make soak`."""
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="a long fault run: make soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Tests make many users; PBKDF2's production work factor made each ~0.5 s."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tree(db):
    """Two organisations; the first has a root with two children and a grandchild."""
    from tests.factories import make_group, make_org

    org = make_org("Nordlys", plan="business")
    other = make_org("Andet", plan="business")
    root = make_group(org, name="Root")
    a = make_group(parent=root, name="A")
    a1 = make_group(parent=a, name="A1")
    b = make_group(parent=root, name="B")
    other_root = make_group(other, name="Other root")
    return {
        "org": org,
        "other": other,
        "root": root,
        "a": a,
        "a1": a1,
        "b": b,
        "other_root": other_root,
    }
