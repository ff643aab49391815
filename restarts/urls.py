from django.urls import path

from restarts import views

app_name = "restarts"
urlpatterns = [
    path("window/", views.restart_window, name="window"),
    path("confirm/", views.restart_confirm, name="confirm"),
    path("history/", views.history, name="history"),
    path("history/export.csv", views.history_export, name="history_export"),
    path("history/<int:pk>/", views.history_detail, name="history_detail"),
    path("history/<int:pk>/export.csv", views.history_detail_export, name="history_detail_export"),
]
