"""Every eligibility rule, one test each; ids outside your groups look like no charger at all."""

from datetime import timedelta

from django.utils import timezone

from chargers.models import Charger
from restarts.eligibility import evaluate
from restarts.models import RestartJob, RestartRequest
from tenancy.models import Subscription
from tests.factories import make_charger


def eligible_ids(evaluation):
    return sorted(evaluation.charger_ids)


def codes(evaluation):
    return {code: len(items) for code, items in evaluation.left_out.items()}


def test_an_admin_may_restart_connected_restartable_idle_chargers_of_their_group(fleet):
    result = evaluate(fleet.admin, [c.pk for c in fleet.ready])
    assert eligible_ids(result) == sorted(c.pk for c in fleet.ready)
    assert result.left_out == {}
    assert result.left_out_summary() == ""


def test_a_super_admin_reaches_every_group_below_their_own(fleet):
    result = evaluate(fleet.super_admin, [fleet.ready[0].pk, fleet.elsewhere.pk])
    assert eligible_ids(result) == sorted([fleet.ready[0].pk, fleet.elsewhere.pk])


def test_a_plain_user_may_restart_nothing(fleet):
    result = evaluate(fleet.plain, [c.pk for c in fleet.ready])
    assert result.eligible == []
    assert codes(result) == {"not_allowed": 3}


def test_a_disconnected_charger_is_left_out(fleet):
    result = evaluate(fleet.admin, [fleet.ready[0].pk, fleet.offline.pk])
    assert eligible_ids(result) == [fleet.ready[0].pk]
    assert result.left_out == {"not_connected": [fleet.offline]}


def test_a_charger_that_cannot_be_restarted_remotely_is_left_out(fleet):
    result = evaluate(fleet.admin, [fleet.ready[0].pk, fleet.legacy.pk])
    assert result.left_out == {"no_remote_restart": [fleet.legacy]}


def test_a_charger_with_an_unfinished_restart_is_left_out(fleet):
    request = RestartRequest.objects.create(
        requested_by=fleet.admin, requested_by_name="x", source="web", mode="default"
    )
    RestartJob.objects.create(request=request, charger=fleet.ready[0], state="accepted")
    RestartJob.objects.create(request=request, charger=fleet.ready[1], state="done")
    result = evaluate(fleet.admin, [c.pk for c in fleet.ready])
    assert eligible_ids(result) == sorted([fleet.ready[1].pk, fleet.ready[2].pk])
    assert result.left_out == {"restarting": [fleet.ready[0]]}


def test_several_chargers_need_an_active_business_subscription(fleet):
    result = evaluate(fleet.basic_admin, [c.pk for c in fleet.basic])
    assert result.eligible == []
    assert codes(result) == {"no_business": 2}


def test_one_charger_needs_no_business_subscription(fleet):
    result = evaluate(fleet.basic_admin, [fleet.basic[0].pk])
    assert eligible_ids(result) == [fleet.basic[0].pk]


def test_an_expired_business_subscription_counts_as_none(fleet):
    Subscription.objects.filter(organisation=fleet.org).update(
        valid_until=timezone.now() - timedelta(minutes=1)
    )
    result = evaluate(fleet.admin, [c.pk for c in fleet.ready])
    assert codes(result) == {"no_business": 3}


def test_ids_of_other_groups_organisations_and_nothing_are_all_just_not_found(fleet):
    missing = Charger.objects.order_by("-pk").first().pk + 1000
    asked = [fleet.ready[0].pk, fleet.elsewhere.pk, fleet.foreign.pk, missing, "junk"]
    result = evaluate(fleet.admin, asked)
    assert eligible_ids(result) == [fleet.ready[0].pk]
    # Counted, but no charger object: nothing about them reaches the window.
    assert result.left_out == {"not_found": [None, None, None, None]}
    assert "4 ikke fundet" in result.left_out_summary()


def test_a_charging_charger_is_eligible_and_marked_as_charging(fleet):
    result = evaluate(fleet.admin, [fleet.charging.pk, fleet.ready[0].pk])
    charging = {e.charger.pk: e.charging for e in result.eligible}
    assert charging == {fleet.charging.pk: True, fleet.ready[0].pk: False}
    assert result.any_charging


def test_the_window_line_names_how_many_were_left_out_and_why(fleet):
    asked = [fleet.ready[0].pk, fleet.offline.pk, fleet.legacy.pk, fleet.foreign.pk]
    line = evaluate(fleet.admin, asked).left_out_summary()
    assert line == ("Udeladt: 3 (1 ikke fundet, 1 ikke forbundet, 1 kan ikke fjerngenstartes).")


def test_a_queryset_of_everything_matching_a_filter_is_judged_the_same_way(fleet):
    everything = Charger.objects.all()
    result = evaluate(fleet.admin, everything)
    expected = [c.pk for c in fleet.ready] + [fleet.charging.pk]
    assert eligible_ids(result) == sorted(expected)
    # Chargers the admin cannot see are not even counted.
    assert codes(result) == {"not_connected": 1, "no_remote_restart": 1}


def test_the_subscription_of_each_chargers_own_organisation_decides(fleet):
    # A platform superuser sees both organisations: only the Business one may go in bulk.
    from tests.factories import make_user

    root = make_user(is_superuser=True)
    result = evaluate(root, [fleet.ready[0].pk, fleet.basic[0].pk])
    assert eligible_ids(result) == [fleet.ready[0].pk]
    assert result.left_out == {"no_business": [fleet.basic[0]]}


def test_a_new_charger_makes_no_extra_query_per_charger(fleet, django_assert_max_num_queries):
    more = [make_charger(fleet.site) for _ in range(20)]
    fleet.admin.refresh_from_db()
    with django_assert_max_num_queries(4):
        evaluate(fleet.admin, [c.pk for c in more])
