# The restart tests' small fleet: one charger of every kind the Opladere page shows.
from tests.restarts.conftest import fleet  # noqa: F401
