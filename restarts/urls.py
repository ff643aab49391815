from django.urls import path

from restarts import cancel_views, views

app_name = "restarts"
urlpatterns = [
    path("window/", views.restart_window, name="window"),
    path("window/page/", views.restart_window_page, name="window_page"),
    path("confirm/", views.restart_confirm, name="confirm"),
    path("history/", views.history, name="history"),
    path("history/export.csv", views.history_export, name="history_export"),
    path("history/<int:pk>/", views.history_detail, name="history_detail"),
    path("history/<int:pk>/export.csv", views.history_detail_export, name="history_detail_export"),
    path("history/<int:pk>/cancel/", cancel_views.cancel_request, name="cancel_request"),
    path("charger/<int:charger_id>/cancel/", cancel_views.cancel_charger, name="cancel_charger"),
]
