from django.urls import path

from rapport.accounts import views, views_admin

app_name = "accounts"
urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("me/", views.account, name="account"),
    path("me/profile/", views.account_profile, name="account_profile"),
    path("me/password/", views.account_password, name="account_password"),
    path("me/tokens/", views.token_create, name="token_create"),
    path("me/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("admin/", views_admin.admin_home, name="admin_home"),
    path("admin/users/", views_admin.user_list, name="user_list"),
    path("admin/users/new/", views_admin.user_create, name="user_create"),
    path("admin/users/<int:pk>/", views_admin.user_edit, name="user_edit"),
    path("admin/users/<int:pk>/active/", views_admin.user_set_active, name="user_set_active"),
    path(
        "admin/users/<int:pk>/tokens/<int:token_pk>/revoke/",
        views_admin.user_token_revoke,
        name="user_token_revoke",
    ),
    path("admin/teams/", views_admin.team_list, name="team_list"),
    path("admin/teams/new/", views_admin.team_create, name="team_create"),
    path("admin/teams/<int:pk>/", views_admin.team_edit, name="team_edit"),
    path("admin/roles/", views_admin.role_list, name="role_list"),
    path("admin/roles/new/", views_admin.role_create, name="role_create"),
    path("admin/roles/<int:pk>/", views_admin.role_edit, name="role_edit"),
]
