"""Grupper, members, the organisation page, the audit trail and invitations."""

from django.urls import path

from tenancy import views_groups, views_members

app_name = "groups"
urlpatterns = [
    path("groups/", views_groups.group_tree, name="tree"),
    path("groups/<int:pk>/", views_groups.group_detail, name="detail"),
    path("groups/<int:pk>/new/", views_groups.group_create, name="create"),
    path("groups/<int:pk>/rename/", views_groups.group_rename, name="rename"),
    path(
        "groups/<int:pk>/maintenance-window/",
        views_groups.group_maintenance_window,
        name="maintenance_window",
    ),
    path("groups/<int:pk>/move/", views_groups.group_move, name="move"),
    path("groups/<int:pk>/delete/", views_groups.group_delete, name="delete"),
    path("groups/<int:pk>/members/", views_members.member_list, name="members"),
    path("members/<int:pk>/role/", views_members.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views_members.member_remove, name="member_remove"),
    path(
        "invitation/<uidb64>/<token>/",
        views_members.InvitationView.as_view(),
        name="invitation",
    ),
    path("organisations/<int:pk>/", views_groups.organisation_detail, name="organisation"),
    path("audit/", views_groups.audit_list, name="audit"),
]
