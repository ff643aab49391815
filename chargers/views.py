from django.shortcuts import render

from portal import access


def charger_list(request):
    chargers = access.visible_chargers(request.user).select_related("group").order_by("name", "pk")
    return render(request, "chargers/list.html", {"chargers": chargers})
