"""The extension point through which restarts add to the charger pages from above."""

from django.db.models import Q

from chargers import extensions, selectors
from chargers.extensions import Rows, StatusFilter


def test_restarts_add_the_restarting_filter_in_its_place_on_the_page():
    assert list(selectors.status_filters()) == [
        "connected",
        "disconnected",
        "charging",
        "restarting",
        "faulted",
        "no_password",
    ]


def test_a_filter_registered_without_a_place_is_listed_last(monkeypatch):
    monkeypatch.setattr(extensions, "_status_filters", dict(extensions._status_filters))
    extensions.register_status_filter("odd", StatusFilter("Odd", Q(pk=0)))
    assert list(selectors.status_filters())[-1] == "odd"


def test_the_shortest_polling_interval_any_extension_needs_wins(monkeypatch):
    def rows(poll):
        return Rows(annotate=lambda qs: qs, decorate=lambda chargers: poll, detail=dict)

    monkeypatch.setattr(extensions, "_rows", [rows("10s"), rows(None), rows("2s")])
    assert extensions.decorate_rows([]) == "2s"
    monkeypatch.setattr(extensions, "_rows", [rows(None)])
    assert extensions.decorate_rows([]) is None
