import pytest


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
